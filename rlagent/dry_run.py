"""`--dry-run` of train and eval: after the command's own checks, print the resolved recipe, the example
counts, where the weights come from and an upper bound on the tokens (and for train, each machine's launch
command and the memory per GPU), without creating a run directory, loading a model or starting an engine."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.table import Table
from rich.text import Text

from rlagent.config.compose import to_yaml
from rlagent.config.schema import RecipeConfig
from rlagent.config.steps import StepPlan
from rlagent.errors import UserError
from rlagent.models.merge import MERGED, is_adapter
from rlagent.models.registry import PREPARED, is_prepared, resolve_model
from rlagent.rollout.engines.factory import chat_template_override
from rlagent.runs.rundir import eval_into_existing, planned_run_path
from rlagent.tasks.base import TaskSuite, evaluation_examples
from rlagent.ui import err_console, out_console


def _weights(name_or_path: str) -> str:
    """Where a model name or path loads from, checked without preparing or downloading anything."""
    if name_or_path in PREPARED and not is_prepared(name_or_path) and not Path(name_or_path).expanduser().is_dir():
        return f"{name_or_path} (embedded model, prepared on first use)"
    resolved = resolve_model(name_or_path, prepare_missing=False)
    return resolved if Path(resolved).is_dir() else f"{resolved} (Hugging Face Hub, downloaded on first use)"


def describe_policy(cfg: RecipeConfig) -> str:
    """The weights the command would generate with (what `policy_path` resolves), without loading or merging;
    model.chat_template's file is checked too."""
    chat_template_override(cfg)
    if not cfg.checkpoint:
        return _weights(cfg.model.name_or_path)
    found = _weights(cfg.checkpoint)
    path = Path(found)
    if (path / "checkpoints").is_dir():  # a run directory: its newest complete checkpoint
        from rlagent.train.checkpoints import CheckpointStore

        latest = CheckpointStore(path / "checkpoints").latest()
        if latest is None:
            raise UserError(f"run directory '{path}' has no complete checkpoint")
        path, found = latest, str(latest)
    if is_adapter(path) and not (path / MERGED / "config.json").is_file():
        return f"{found} (LoRA adapter, merged into {_weights(cfg.model.name_or_path)} on first use)"
    return found


def _server_rows(cfg: RecipeConfig) -> list[tuple[str, str]]:
    """rollout.engine=vllm_server: the server a run would use (a given one is checked over HTTP)."""
    if cfg.rollout.engine != "vllm_server":
        return []
    from rlagent.rollout.engines.vllm_server import describe_server

    return [("rollout server", describe_server(cfg))]


def _report(cfg: RecipeConfig, rows: list[tuple[str, str]], overrides: list[str] | None = None) -> None:
    sys.stdout.write(to_yaml(cfg))
    sys.stdout.flush()
    table = Table(title="dry run", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in rows:
        table.add_row(key, Text(value))
    out_console.print(table)
    if overrides is not None:  # train: how it launches and what each GPU holds
        from rlagent.launch.report import print_launch

        print_launch(cfg, overrides)
    err_console.print("dry run: every check passed; no run directory created, no model loaded", highlight=False)


def report_train(cfg: RecipeConfig, suite: TaskSuite, train_examples: int, overrides: list[str]) -> None:
    """The dry run of `rlagent train`, after train_command's checks; `overrides` as given (for the commands that
    launcher=accelerate prints)."""
    path = planned_run_path(cfg, "train")
    a, t = cfg.algorithm, cfg.trainer
    episodes = t.prompts_per_step * a.num_generations
    plan = StepPlan.from_config(cfg, cfg.launcher.num_processes * cfg.launcher.num_machines)
    if t.eval_steps:
        count = len(evaluation_examples(suite, cfg.task.eval_split))
        evals = f"{count} in {cfg.task.eval_split} ({min(count, t.eval_limit)} evaluated every {t.eval_steps} steps)"
    else:
        evals = "not used (trainer.eval_steps=0)"
    tokens = episodes * cfg.rollout.max_episode_tokens
    _report(
        cfg,
        [
            ("run directory", f"{path} ({'resumed' if cfg.resume else 'created by train'})"),
            ("policy weights", describe_policy(cfg)),
            *_server_rows(cfg),
            ("train examples", f"{train_examples} in {cfg.task.split or 'train'}"),
            ("eval examples", evals),
            (
                "episodes per step",
                f"{episodes} (trainer.prompts_per_step {t.prompts_per_step} × num_generations {a.num_generations})",
            ),
            (
                "tokens per step",
                f"≤ {tokens:,} (episodes × rollout.max_episode_tokens {cfg.rollout.max_episode_tokens}"
                ", prompts excluded)",
            ),
            ("generated batches", f"{plan.batches} (trainer.max_steps: a step is one generated batch)"),
            (
                "optimizer steps",
                f"{plan.optimizer_steps_per_batch} per batch ({plan.minibatches} minibatch(es) of "
                f"{plan.minibatch_size} episodes × {plan.epochs} epoch(s), algorithm.minibatch_size / num_iterations), "
                f"{plan.optimizer_steps} in all",
            ),
            ("tokens in all", f"≤ {tokens * t.max_steps:,} over trainer.max_steps {t.max_steps}"),
        ],
        overrides,
    )


def report_eval(cfg: RecipeConfig, split: str, examples: int) -> None:
    """The dry run of `rlagent eval`, after eval_command's checks."""
    if eval_into_existing(cfg):
        written = Path(str(cfg.run.dir)) / "eval" / f"{split}.json"
        if written.exists():  # what run_eval refuses
            raise UserError(f"{written} already exists; evaluate into another run.dir")
        where = f"{cfg.run.dir} (existing run: adds eval/{split}.json)"
    else:
        where = f"{planned_run_path(cfg, 'eval')} (created by eval)"
    if cfg.rollout.engine == "openai":
        policy = f"{cfg.rollout.openai.model or cfg.model.name_or_path} served at {cfg.rollout.openai.base_url}"
    else:
        policy = describe_policy(cfg)
    episodes = examples * cfg.eval.num_samples
    _report(
        cfg,
        [
            ("run directory", where),
            ("policy weights", policy),
            *_server_rows(cfg),
            ("eval examples", f"{examples} in {split}"),
            ("episodes", f"{episodes} (examples × eval.num_samples {cfg.eval.num_samples})"),
            (
                "tokens in all",
                f"≤ {episodes * cfg.rollout.max_episode_tokens:,} (episodes × rollout.max_episode_tokens "
                f"{cfg.rollout.max_episode_tokens}, prompts excluded)",
            ),
        ],
    )
