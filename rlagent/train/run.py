"""`rlagent train`: alternate agent-loop rollouts on the engine, verifier rewards and TRL GRPO updates."""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from rich.table import Table

from rlagent.config.compose import compose_recipe
from rlagent.config.schema import RecipeConfig
from rlagent.config.steps import StepPlan
from rlagent.errors import NotBuiltError, RunFailed, UserError
from rlagent.launch.commands import check_runnable, process_rank, world_size
from rlagent.quiet import library_output
from rlagent.rollout.engines.factory import chat_template_override, policy_path
from rlagent.runs.rundir import RunDir, open_run_dir
from rlagent.runs.stats import paired_difference
from rlagent.tasks.base import Example, TaskSuite, evaluation_examples
from rlagent.tasks.registry import build_suite
from rlagent.train.checkpoints import CheckpointStore
from rlagent.train.distributed import launched_overrides
from rlagent.train.interrupt import Interrupted, resume_command, stop_on_signals
from rlagent.train.sinks import check_sinks, place_sinks, sink_environment
from rlagent.ui import err_console, out_console, progress_bar

BASE_STEP = -1
"""Step number of the evaluation of the base policy when a warm start runs before step 0."""


# LoRA ranks vLLM can serve (vllm.config.lora).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def check_adapter_sync(cfg: RecipeConfig) -> None:
    """model.lora.sync=adapter: what vLLM would reject when it loads the adapter, caught up front."""
    lora = cfg.model.lora
    if not lora.enabled or cfg.rollout.engine not in ("vllm", "vllm_server"):
        raise UserError("model.lora.sync=adapter needs model.lora.enabled=true and rollout.engine=vllm or vllm_server")
    if cfg.rollout.engine == "vllm_server" and cfg.rollout.vllm_server.url:
        raise UserError(
            "model.lora.sync=adapter with rollout.vllm_server.url is not supported: the server must take runtime "
            "adapters (--enable-lora, VLLM_ALLOW_RUNTIME_LORA_UPDATING=1); leave the url unset so rlagent starts it"
        )
    if lora.r not in VLLM_LORA_RANKS:
        raise UserError(f"model.lora.sync=adapter: vLLM serves LoRA ranks {VLLM_LORA_RANKS}, not r={lora.r}")
    unsupported = sorted(set(lora.target_modules) & {"embed_tokens", "lm_head"})
    if unsupported:
        raise UserError(
            f"model.lora.sync=adapter: vLLM cannot serve adapters on {unsupported}; use model.lora.sync=merged"
        )


def check_trainable(cfg: RecipeConfig) -> None:
    if cfg.rollout.engine == "openai":
        raise UserError("rollout.engine=openai cannot train (text only, no token ids); use vllm, vllm_server or hf")
    a = cfg.algorithm
    if a.num_generations < 2:
        raise UserError(f"algorithm.num_generations={a.num_generations}: GRPO needs at least 2 episodes per prompt")
    if a.num_iterations < 1:
        raise UserError(f"algorithm.num_iterations={a.num_iterations} must be at least 1")
    if a.learning_rate <= 0 or a.max_grad_norm <= 0:
        raise UserError("algorithm.learning_rate and algorithm.max_grad_norm must be > 0")
    if a.epsilon <= 0 or (a.epsilon_high is not None and a.epsilon_high < a.epsilon):
        raise UserError("algorithm.epsilon must be > 0, and algorithm.epsilon_high (if set) at least epsilon")
    if a.beta < 0 or a.weight_decay < 0:
        raise UserError("algorithm.beta and algorithm.weight_decay must be >= 0")
    if not 0.0 <= a.warmup_ratio < 1.0:
        raise UserError(f"algorithm.warmup_ratio={a.warmup_ratio} must be in [0, 1)")
    lora = cfg.model.lora
    if lora.enabled and (lora.r < 1 or lora.alpha <= 0 or not 0.0 <= lora.dropout < 1.0 or not lora.target_modules):
        raise UserError("model.lora needs r >= 1, alpha > 0, 0 <= dropout < 1 and at least one target module")
    if lora.sync == "adapter":
        check_adapter_sync(cfg)
    if cfg.rollout.temperature <= 0:
        raise UserError(f"rollout.temperature={cfg.rollout.temperature} must be > 0 for training (on-policy sampling)")
    check_sinks(cfg.trainer.report_to)
    ws = cfg.trainer.warm_start
    if ws.demos < 0 or (ws.demos and (ws.epochs < 1 or ws.batch_size < 1 or ws.micro_batch_size < 1)):
        raise UserError(
            "trainer.warm_start needs demos >= 0 and, when demos > 0, epochs, batch_size, micro_batch_size >= 1"
        )
    if ws.demos and a.beta > 0:
        raise UserError(
            "trainer.warm_start with algorithm.beta > 0 is not supported: TRL's KL reference is the model before "
            "the warm start, so the KL term would pull the policy back to the base; use beta 0"
        )
    if ws.demos and not ws.learning_rate > 0:
        raise UserError(f"trainer.warm_start.learning_rate={ws.learning_rate} must be > 0")
    if cfg.trainer.weight_sync != "inprocess":
        raise NotBuiltError(
            f"trainer.weight_sync={cfg.trainer.weight_sync} is not built yet; use trainer.weight_sync=inprocess"
        )


def check_oracle(suite: TaskSuite, examples: list[Example], dataset: str) -> None:
    """A warm start needs a suite whose oracle can demonstrate the training examples."""
    from rlagent.train.warm_start import has_oracle

    if not has_oracle(suite):
        raise UserError(
            f"trainer.warm_start.demos is set but task.dataset={dataset} has no oracle to demonstrate it; "
            "the search suite (task=synthetic_kb, nq, musique), appsim and task=custom with task.custom.oracle "
            "have one, or set trainer.warm_start.demos=0"
        )
    if not any(suite.demonstration(ex) for ex in examples[:50]):  # type: ignore[attr-defined]
        raise UserError(
            f"trainer.warm_start.demos is set but the oracle of task.dataset={dataset} returned no demonstration "
            "for the first 50 train examples (on NQ and MuSiQue it demonstrates only questions whose gold answer "
            "is in the passages a search for the question returns)"
        )


def _dataset(suite: TaskSuite, examples: list[Example]) -> Any:
    from datasets import Dataset

    rows = []
    for ex in examples:
        env = suite.make_env(ex)
        try:
            rows.append({"prompt": env.reset(), "example_id": ex.id})
        finally:
            env.close()
    return Dataset.from_list(rows)


def train_command(overrides: list[str], dry_run: bool = False) -> None:
    cfg, _ = compose_recipe(overrides)
    if not dry_run:
        check_runnable(cfg)
    check_trainable(cfg)
    suite = build_suite(cfg.task)
    examples = suite.examples(cfg.task.split or "train")
    if cfg.trainer.eval_steps:
        evaluation_examples(suite, cfg.task.eval_split)  # every difficulty: the training filter is not applied
    if cfg.trainer.warm_start.demos:
        check_oracle(suite, examples, cfg.task.dataset)
    if dry_run:  # the checks above, the model path's and run.dir's; no run directory, no weights loaded
        from rlagent.dry_run import report_train

        report_train(cfg, suite, len(examples), overrides)
        return
    model_path = policy_path(cfg)
    chat_template_override(cfg)
    if cfg.rollout.engine == "vllm_server":  # a given server is up and fit; a port to start one on is free
        from rlagent.rollout.engines.vllm_server import check_server

        check_server(cfg, model_path)
    if cfg.launcher.kind == "accelerate":  # this process starts the training processes and waits for them
        from rlagent.train.distributed import launch_processes

        raise SystemExit(launch_processes(cfg, overrides))
    if process_rank():  # one of several training processes, not the first: rank 0 owns the run directory
        from rlagent.train.distributed import follower_run_dir

        run: RunDir = follower_run_dir(cfg)
    else:
        run = open_run_dir(cfg, "train")
    overrides = launched_overrides(overrides)  # under launcher=accelerate: what the user typed, for resume lines
    with stop_on_signals():  # SIGINT/SIGTERM: interrupted in run.json, resumable, exit 130/143 (train/interrupt.py)
        try:
            # native library chatter to the run's log (rlagent/quiet.py); other ranks keep theirs on the terminal
            with library_output(run.path / "logs") if not process_rank() else contextlib.nullcontext():
                summary = train(cfg, run, suite, examples, model_path)
        except Interrupted as stop:
            run.interrupt(stop.name, CheckpointStore(run.checkpoints).latest())
            if not process_rank():
                err_console.print(
                    f"interrupted by {stop.name}; resume with: {resume_command(overrides, run.path)}",
                    highlight=False, soft_wrap=True, markup=False,
                )  # fmt: skip
            raise SystemExit(stop.exit_code) from None
        except RunFailed as exc:  # the run started and stops: failed in run.json, the directory kept, exit 1
            if exc.resumable:
                exc.args = (f"{exc}; resume with: {resume_command(overrides, run.path)}",)
            with contextlib.suppress(OSError):  # a full disk may refuse run.json too; the message still goes out
                run.fail(str(exc))
            raise
        except UserError as exc:
            run.abandon(str(exc))
            raise
        except BaseException as exc:
            run.fail(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            close = getattr(suite, "close", None)  # world servers (appsim/AppWorld pools); train() closes the engine
            if callable(close):
                close()
    run.finish(**summary)
    if process_rank():
        return
    table = eval_progress_table(run, cfg.task.eval_split)
    if table is not None:
        out_console.print(table)
    err_console.print(f"run directory: {run.path}", highlight=False, soft_wrap=True)


def eval_progress_table(run: RunDir, split: str) -> Table | None:
    """Evaluation metrics of the first and last evaluated steps (and of the base policy before a warm start),
    from metrics.jsonl, with the paired change in success and its 95% interval from the eval files."""
    prefix = f"eval/{split}/"
    rows = [r for r in run.metrics.rows() if any(k.startswith(prefix) for k in r)]
    if not rows:
        return None
    shown = [rows[0]]
    if rows[0]["step"] == BASE_STEP and len(rows) > 2:
        shown.append(rows[1])  # after the warm start, before RL
    if len(rows) > 1:
        shown.append(rows[-1])
    table = Table(title=f"evaluation on {split} during training")
    table.add_column("metric")
    for row in shown:
        label = "base" if row["step"] == BASE_STEP else f"step {row['step']}"
        if row["step"] == 0 and rows[0]["step"] == BASE_STEP:
            label = "step 0 (warm start)"
        table.add_column(label, justify="right")
    keys = (
        "success", "em", "f1", "sgc", "tests_passed", "reward", "answered", "searches", "code_error_rate", "turns",
        "malformed_rate", "examples",
    )  # fmt: skip
    for key in keys:
        if prefix + key in shown[0]:
            table.add_row(key, *[f"{row.get(prefix + key, float('nan')):.3f}" for row in shown])
    baselines = shown[:2] if len(shown) == 3 else shown[:1]  # base, and the warm-started policy when shown
    for baseline in baselines:
        before = _per_example(run, split, baseline["step"])
        for row in shown[shown.index(baseline) + 1 :]:
            after = _per_example(run, split, row["step"])
            if before and after:
                d = paired_difference(before, after)
                cells = [""] * len(shown)
                cells[shown.index(row)] = f"{d.delta_text} ({d.interval_text})"
                header = table.columns[shown.index(baseline) + 1].header
                table.add_row(f"success change vs {header} (95% CI)", *cells)
    return table


def importance_cap(cfg: RecipeConfig) -> float | None:
    """The truncation of the importance weights on the loss, or None for none (trainer.importance_sampling)."""
    mode = cfg.trainer.importance_sampling
    if mode == "always" or (mode == "async" and cfg.trainer.async_rollouts):
        return cfg.trainer.importance_sampling_cap
    return None


def eval_tag(step: int) -> str:
    """The tag of the evaluation a training run makes at `step` (eval/<split>-<tag>.json)."""
    return "base" if step == BASE_STEP else f"step-{step}"


def _per_example(run: RunDir, split: str, step: int) -> dict[str, list[bool]] | None:
    path = run.eval / f"{split}-{eval_tag(step)}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("per_example") or None


def check_resumable(cfg: RecipeConfig, checkpoint: Any, step: int) -> None:
    """A checkpoint's optimizer steps must be its steps x the recipe's optimizer steps per step: a run saved before
    steps counted generated batches (rlagent 0.2, num_iterations > 1), or resumed with another minibatch_size or
    num_iterations, would otherwise continue on the wrong schedule."""
    state_file = checkpoint / "trainer_state.json"
    if not state_file.is_file():
        return
    done = json.loads(state_file.read_text()).get("global_step")
    per_step = StepPlan.from_config(cfg, world_size()).optimizer_steps_per_batch
    if done is None or done == step * per_step:
        return
    if done == step:  # named by its optimizer steps: saved when a step was an optimizer step (rlagent 0.2)
        raise UserError(
            f"{checkpoint.name} was saved when steps counted optimizer steps (rlagent 0.2) and this recipe takes "
            f"{per_step} optimizer steps per step: it cannot be resumed on the same schedule; start a new run from it "
            f"with checkpoint={checkpoint}"
        )
    raise UserError(
        f"{checkpoint.name} holds {done} optimizer steps, but this recipe takes {per_step} per step "
        f"({step} x {per_step} = {step * per_step}): resume with the algorithm.minibatch_size and "
        f"algorithm.num_iterations it was trained with"
    )


def build_trainer(
    cfg: RecipeConfig,
    run: RunDir,
    suite: TaskSuite,
    examples: list[Example],
    model_path: str,
    engine: Any,
    store: Any,
    resume: bool = False,
    metrics: Any = None,
) -> Any:
    """The agent loop on `engine`, its rollout and the AgentGRPOTrainer around them (what `train` runs, and what the
    tests of the loss's inputs drive step by step). `metrics`: the metrics.jsonl callback, on rank 0 only."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from peft import LoraConfig
    from transformers import AutoTokenizer

    from rlagent.rollout.loop import AgentLoop, LoopSettings
    from rlagent.train.algorithms import grpo_config
    from rlagent.train.async_rollout import describe
    from rlagent.train.rollout import AgentRollout, AsyncSettings, make_reward_func
    from rlagent.train.trainer import AgentGRPOTrainer

    main = process_rank() == 0
    tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=cfg.model.trust_remote_code)
    tokenizer.chat_template = engine.tokenizer.chat_template  # model.chat_template, when set
    loop = AgentLoop(engine, suite, LoopSettings.from_config(cfg))
    asynchronous = None
    if cfg.trainer.async_rollouts:
        plan = StepPlan.from_config(cfg, world_size())
        asynchronous = AsyncSettings(
            cfg.trainer.max_staleness,
            plan.optimizer_steps_per_batch,
            cfg.trainer.prompts_per_step,
            plan.optimizer_steps,
            rank=process_rank(),
            processes=world_size(),
        )
        if main:
            err_console.print(describe(asynchronous), highlight=False, soft_wrap=True, markup=False)
    agent = AgentRollout(
        loop,
        examples,
        run,
        cfg.algorithm.num_generations,
        cfg.seed,
        synced_step=None if resume else 0,
        asynchronous=asynchronous,
        suite=suite,
        dynamic_rounds=cfg.algorithm.dynamic_sampling_rounds if cfg.algorithm.dynamic_sampling else 0,
    )
    lora = cfg.model.lora
    peft_config = (
        LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=list(lora.target_modules),
            task_type="CAUSAL_LM",
        )
        if lora.enabled
        else None
    )
    try:
        return AgentGRPOTrainer(
            model=model_path,
            reward_funcs=[make_reward_func(suite, agent.timings)],
            args=grpo_config(cfg, run.checkpoints, run_name=run.path.name),
            train_dataset=_dataset(suite, examples),
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[metrics] if metrics is not None and main else [],
            agent=agent,
            algorithm=cfg.algorithm,
            checkpoints=store,
            check_logprobs=cfg.trainer.check_logprobs,
            save_total_limit=cfg.trainer.save_total_limit,
            errored_episodes=cfg.trainer.errored_episodes,
            max_error_share=cfg.trainer.max_error_share,
            importance_cap=importance_cap(cfg),
        )
    except BaseException:
        agent.close()  # its background player, if any
        raise


def train(
    cfg: RecipeConfig, run: RunDir, suite: TaskSuite, examples: list[Example], model_path: str, engine: Any = None
) -> dict:
    """Set up engine (unless given), agent loop and trainer; train; return a summary for run.json.

    An engine passed in is left open (its weights are those of the last rollout); one built here is closed.
    """
    from transformers import PrinterCallback
    from transformers.utils import logging as hf_logging

    from rlagent.evaluate.runner import run_eval
    from rlagent.rollout.engines.factory import build_engine
    from rlagent.train.callbacks import LiveView, MetricsCallback, PeriodicEval, PlainProgress
    from rlagent.train.checkpoints import CheckpointStore
    from rlagent.train.warm_start import warm_start

    store = CheckpointStore(run.checkpoints)
    resume_from = store.latest() if cfg.resume else None
    if cfg.resume:
        # without a checkpoint everything from step 0 on is redone (the step-0 evaluation included); only the
        # base policy's evaluation (step -1) stays
        step = int(resume_from.name.split("-")[1]) if resume_from else BASE_STEP
        if resume_from is not None:
            check_resumable(cfg, resume_from, step)
        dropped = run.rewind(step)
        step = max(step, 0)
        err_console.print(f"resuming at step {step} (dropped {dropped} metric rows logged after it)")
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    main = process_rank() == 0  # with several training processes, only rank 0 logs, evaluates and reports
    own_engine = engine is None
    agent = None
    if own_engine:
        engine = build_engine(cfg, model_path, training=True, log_dir=run.path / "logs")
    try:
        metrics = MetricsCallback(run.metrics)
        trainer = build_trainer(
            cfg, run, suite, examples, model_path, engine, store, resume=resume_from is not None, metrics=metrics
        )
        agent, loop, tokenizer = trainer.agent, trainer.agent.loop, trainer.processing_class
        trainer.remove_callback(PrinterCallback)
        place_sinks(trainer, run.path)

        live = cfg.trainer.live_view and err_console.is_terminal

        def say(line: str) -> None:
            err_console.print(line, highlight=False, soft_wrap=True, markup=False)

        def evaluate(step: int) -> None:
            what = "the base policy" if step == BASE_STEP else f"step {step}"
            if not live:
                say(f"eval {cfg.task.eval_split} at {what}: up to {cfg.trainer.eval_limit} examples ...")
            with agent.lock:  # between two batches played ahead (trainer.async_rollouts)
                # the policy's version is TRL's optimizer step (a step here is a generated batch, several of them)
                agent.sync(trainer.model, BASE_STEP if step == BASE_STEP else trainer.state.global_step)
                result = run_eval(
                    cfg,
                    run,
                    suite,
                    engine=engine,
                    split=cfg.task.eval_split,
                    limit=cfg.trainer.eval_limit,
                    tag=eval_tag(step),
                    step=step,
                    show_progress=False,
                )
            row = {f"eval/{cfg.task.eval_split}/{k}": v for k, v in result.metrics.items()}
            run.metrics.append(step, row)
            if not live:
                m = result.metrics
                say(
                    f"eval {cfg.task.eval_split} at {what}: success {m.get('success', 0.0):.3f} "
                    f"(95% CI {m.get('success_ci_low', 0.0):.3f}-{m.get('success_ci_high', 1.0):.3f}) "
                    f"reward {m.get('reward', 0.0):.3f}  {m.get('examples', 0):.0f} examples  {m.get('wall_s', 0):.0f}s"
                )

        if cfg.trainer.warm_start.demos and resume_from is None:
            ws = cfg.trainer.warm_start
            if (
                cfg.trainer.eval_steps
                and ws.eval_base
                and not (run.eval / f"{cfg.task.eval_split}-{eval_tag(BASE_STEP)}.json").exists()
            ):
                agent.synced_step = BASE_STEP  # the engine holds the base weights: nothing to push
                evaluate(BASE_STEP)  # the policy before the warm start, logged at step -1
            report = warm_start(
                trainer.model,
                suite,
                examples,
                tokenizer,
                loop.eos_ids,
                loop.settings,
                cfg.trainer.warm_start,
                cfg.seed,
                say,
                gradient_checkpointing=cfg.model.gradient_checkpointing,
            )
            run.metrics.append(0, report.metrics())
            agent.synced_step = None  # the engine still has the weights from before the warm start
        if cfg.trainer.eval_steps and main:  # the other ranks wait for it in the next step's first collective
            trainer.add_callback(
                PeriodicEval(cfg.trainer.eval_steps, evaluate, cfg.trainer.max_steps, at_start=resume_from is None)
            )
        with progress_bar() as bar, sink_environment(cfg.trainer.report_to, run.path):
            if live and main:
                trainer.add_callback(LiveView(bar, metrics, cfg.trainer.max_steps))
            elif main:
                trainer.add_callback(PlainProgress(metrics, cfg.trainer.max_steps, say))
            trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        final_step = trainer.training_step_done
        latest = store.latest()
        if latest is None or latest.name != f"step-{final_step}":
            trainer._save_checkpoint(trainer.model, None)
        summary = {"steps": final_step, "final_checkpoint": str(store.latest()), "last_metrics": metrics.last_row}
        return {**summary, "processes": world_size()} if world_size() > 1 else summary
    finally:
        if agent is not None:
            agent.close()
        if own_engine:
            engine.close()
