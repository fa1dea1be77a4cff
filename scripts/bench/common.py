"""Shared set-up of the benchmarks: models, suites, a timer."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")

from rlagent.config.schema import ModelConfig, RolloutConfig, SyntheticKBConfig, TaskConfig
from rlagent.tasks.search.suite import SearchSuite


def timed(fn: Callable[[], object], repeats: int = 3) -> tuple[float, object]:
    """Median wall-clock seconds of `fn` over `repeats` runs, and its last result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2], result


def kb_suite(questions: int = 16) -> SearchSuite:
    cfg = TaskConfig(suite="search", dataset="synthetic_kb", source="synthetic", max_turns=3)
    cfg.synthetic = SyntheticKBConfig(train_questions=questions, dev_questions=questions, max_hops=2)
    cfg.system_prompt = (
        "You answer questions with a search engine. Reply with <search> query </search> to search, "
        "or <answer> answer </answer> when you know the answer."
    )
    cfg.user_template = "Question: {question}"
    return SearchSuite(cfg)


def vllm(path: str, prefix_caching: bool = True):
    from rlagent.rollout.engines.vllm import VllmEngine

    rollout = RolloutConfig()
    rollout.vllm.kv_cache_memory_gb = 0.5
    rollout.vllm.max_model_len = 2048
    rollout.vllm.enable_prefix_caching = prefix_caching
    return VllmEngine(path, ModelConfig(dtype="float32"), rollout)
