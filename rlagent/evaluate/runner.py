"""`rlagent eval`: episodes of a split with the shared agent loop, metrics and transcripts on disk."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from rlagent.config.schema import RecipeConfig
from rlagent.errors import UserError
from rlagent.evaluate.metrics import aggregate, metric_counts
from rlagent.rollout.engines.factory import build_engine, policy_path
from rlagent.rollout.episode import Episode
from rlagent.rollout.loop import AgentLoop, LoopSettings, score_episodes
from rlagent.runs.files import write_json_atomic, write_jsonl_atomic
from rlagent.runs.rundir import RunDir
from rlagent.tasks.base import TaskSuite, evaluation_examples
from rlagent.ui import progress_bar


@dataclass
class EvalResult:
    split: str
    metrics: dict[str, float]
    episodes: list[Episode]
    path: Path


def eval_temperature(cfg: RecipeConfig) -> float:
    if cfg.eval.temperature is not None:
        return cfg.eval.temperature
    return 0.0 if cfg.eval.num_samples == 1 else cfg.rollout.temperature


def _policy_label(cfg: RecipeConfig, step: int | None) -> str | None:
    if step is not None and step < 0:
        return "base policy (before the warm start)"
    if step is not None:
        return f"training policy at step {step}"
    if cfg.rollout.engine == "openai":
        return cfg.rollout.openai.model or cfg.model.name_or_path
    return policy_path(cfg)


def run_eval(
    cfg: RecipeConfig,
    run: RunDir,
    suite: TaskSuite,
    engine: Any = None,
    split: str | None = None,
    limit: int | None = None,
    tag: str | None = None,
    step: int | None = None,
    show_progress: bool = True,
) -> EvalResult:
    """Evaluate on `split` and write eval/<split>[-<tag>].json and .rollouts.jsonl into the run directory."""
    split = split or cfg.task.split or cfg.task.eval_split
    name = f"{split}-{tag}" if tag else split
    out_json, out_rollouts = run.eval / f"{name}.json", run.eval / f"{name}.rollouts.jsonl"
    if out_json.exists():
        raise UserError(f"{out_json} already exists; evaluate into another run.dir")
    examples = evaluation_examples(suite, split)
    if limit:
        examples = examples[:limit]
    k, temperature = cfg.eval.num_samples, eval_temperature(cfg)
    started = time.perf_counter()
    load_s = 0.0
    own_engine = engine is None
    if own_engine:
        engine = build_engine(cfg, log_dir=run.path / "logs")
        load_s = time.perf_counter() - started
    try:
        loop = AgentLoop(engine, suite, LoopSettings.from_config(cfg, temperature=temperature))
        items = [(ex, sample) for ex in examples for sample in range(k)]
        with progress_bar(transient=not show_progress) as bar:
            task = bar.add_task(f"eval {name}", total=len(items), status="")
            episodes = loop.run(items, seed=cfg.seed, on_done=lambda ep: bar.advance(task))
    finally:
        if own_engine:  # a vLLM server the engine started stops here, not at interpreter exit
            engine.close()
    score_episodes(suite, episodes)
    metrics = aggregate(episodes, k)
    stats = loop.stats
    metrics["tokens_per_s"] = stats.model_tokens / stats.generation_s if stats.generation_s else 0.0
    metrics["wall_s"] = time.perf_counter() - started
    per_example: dict[str, list[bool]] = {}
    for ep in episodes:
        per_example.setdefault(ep.example.id, []).append(ep.success)
    write_jsonl_atomic(out_rollouts, (ep.to_record() for ep in episodes))
    write_json_atomic(
        out_json,
        {
            "split": split,
            "tag": tag,
            "step": step,
            "metrics": metrics,
            "num_samples": k,
            "temperature": temperature,
            "engine": getattr(engine, "name", type(engine).__name__),
            "model": cfg.model.name_or_path,
            "checkpoint": cfg.checkpoint,
            "policy": _policy_label(cfg, step),
            "timings": {
                "engine_load_s": load_s,
                "generation_s": stats.generation_s,
                "env_s": stats.env_s,
                "wall_s": metrics["wall_s"],
            },
            "per_example": per_example,
            # how many episodes reported each per-episode metric: the denominator of its mean (docs/METRICS.md)
            "metric_counts": metric_counts(ep.metrics for ep in episodes),
            "config": OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True),
        },
    )
    return EvalResult(split, metrics, episodes, out_json)
