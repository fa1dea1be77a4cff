"""The `rlagent eval` command: validate everything, open the run directory, evaluate, report."""

from __future__ import annotations

from rlagent.config.compose import compose_recipe
from rlagent.errors import RunFailed, UserError
from rlagent.evaluate.runner import run_eval
from rlagent.evaluate.table import metrics_table
from rlagent.quiet import library_output
from rlagent.rollout.engines.factory import chat_template_override, policy_path
from rlagent.runs.rundir import open_for_eval
from rlagent.tasks.base import evaluation_examples
from rlagent.tasks.registry import build_suite
from rlagent.ui import out_console


def eval_command(overrides: list[str], dry_run: bool = False) -> None:
    cfg, _ = compose_recipe(overrides)
    suite = build_suite(cfg.task)
    split = cfg.task.split or cfg.task.eval_split
    examples = evaluation_examples(suite, split)  # bad data paths fail here, before a run directory exists
    if dry_run:
        from rlagent.dry_run import report_eval

        report_eval(cfg, split, len(examples))
        return
    if cfg.rollout.engine != "openai":
        model_path = policy_path(cfg)
        chat_template_override(cfg)
        if cfg.rollout.engine == "vllm_server":  # a given server is up and fit; a port to start one on is free
            from rlagent.rollout.engines.vllm_server import check_server

            check_server(cfg, model_path)
    run = open_for_eval(cfg)
    try:
        with library_output(run.path / "logs"):  # vLLM's native start-up chatter to the run's log, not the terminal
            result = run_eval(cfg, run, suite, split=split)
    except RunFailed as exc:  # e.g. a vLLM server that would not start: the directory keeps its log
        if run.path.exists():
            run.fail(str(exc))
        raise
    except UserError as exc:
        run.abandon(str(exc))
        raise
    except BaseException as exc:
        if run.created:
            run.fail(f"{type(exc).__name__}: {exc}")
        raise
    if run.created:
        run.finish(eval={split: result.metrics.get("success")})
    out_console.print(metrics_table(f"{cfg.name} · {split} · {result.path}", result.metrics))
