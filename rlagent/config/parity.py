"""The published setups the paper recipes reproduce, quantity by quantity: the one source of docs/ALGORITHMS.md's parity
tables (scripts/parity_tables.py) and of tests/test_paper_parity.py, which composes each recipe and checks every row.

A row names a quantity of the paper, the paper's value, the rlagent keys or StepPlan quantities that realise it
(`checks`: probe -> value) and a status:

- exact: the recipe as composed has the paper's value (an evaluation row: under the `rlagent eval` overrides it lists);
- approximation: rlagent cannot or does not do exactly what the paper did; `note` says why, and `checks` hold the
  values rlagent uses instead;
- differs: the recipe sets another value on purpose (`note` says why) and `overrides` give the paper's value;
- not built: rlagent has no way to do it (`note` says what there is instead).

Probes are dotted recipe keys (`algorithm.epsilon`) or `StepPlan.<attribute>` (rlagent/config/steps.py), computed over
the recipe's training processes. Importable without torch; recipes are composed (Hydra) only when a table is rendered
or a recipe verified.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rlagent.config.schema import RecipeConfig
from rlagent.config.steps import StepPlan
from rlagent.errors import UserError

EXACT, APPROXIMATION, DIFFERS, NOT_BUILT = "exact", "approximation", "differs", "not built"
STATUSES = (EXACT, APPROXIMATION, DIFFERS, NOT_BUILT)


@dataclass(frozen=True)
class Row:
    """One quantity of a paper as one recipe realises it."""

    quantity: str
    paper: str
    status: str
    checks: dict[str, Any] = field(default_factory=dict)
    """probe -> value: the paper's value for exact and differs rows (differs: under `overrides`), the value rlagent
    uses instead for approximation and not-built rows."""
    note: str = ""
    overrides: tuple[str, ...] = ()
    """exact: the `rlagent eval` overrides an evaluation row needs (`command` eval); differs: those giving the paper's
    value."""
    command: str = "train"
    rlagent: str = ""
    """What rlagent has, in words, where no key shows it (not-built rows)."""


@dataclass(frozen=True)
class Paper:
    key: str
    title: str
    source: str
    recipes: tuple[str, ...]
    rows: Callable[[str], list[Row]]


def probe(cfg: RecipeConfig, name: str) -> Any:
    """The value of a dotted recipe key or of a StepPlan quantity (`StepPlan.batches`) in `cfg`."""
    if name.startswith("StepPlan."):
        la = cfg.launcher
        return getattr(StepPlan.from_config(cfg, la.num_processes * la.num_machines), name.split(".", 1)[1])
    value: Any = cfg
    for part in name.split("."):
        value = getattr(value, part)
    return value


def fmt(value: Any) -> str:
    """A value as a recipe would write it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    if isinstance(value, int) and abs(value) >= 1000:
        return f"{value:,}"
    return str(value)


# LOOP -------------------------------------------------------------------------------------------------------------


def _loop_rows(recipe: str) -> list[Row]:
    is_32b = recipe == "appworld_32b"
    model = Row(
        "policy model",
        "Qwen2.5-32B-Instruct",
        EXACT if is_32b else DIFFERS,
        {"model.name_or_path": "Qwen/Qwen2.5-32B-Instruct"},
        note=""
        if is_32b
        else "the smaller recipe: a 7B policy, LOOP's setup otherwise (recipe=appworld_32b is LOOP's)",
        overrides=() if is_32b else ("model=qwen2.5-32b-instruct",),
    )
    return [
        model,
        Row(
            "adapters",
            "LoRA, rank 16, alpha 32",
            EXACT,
            {"model.lora.enabled": True, "model.lora.r": 16, "model.lora.alpha": 32},
            note="dropout 0 and adapters on all seven projections are the recipe's; LOOP's are not restated here",
        ),
        Row(
            "optimizer",
            "AdamW, constant learning rate 5e-5 (no warm-up), weight decay 0.01, gradient clip 1.0",
            EXACT,
            {
                "algorithm.learning_rate": 5e-5,
                "algorithm.lr_scheduler_type": "constant",
                "algorithm.warmup_ratio": 0.0,
                "algorithm.weight_decay": 0.01,
                "algorithm.max_grad_norm": 1.0,
            },
            note="AdamW is TRL's optimizer",
        ),
        Row(
            "episodes per iteration",
            "40 tasks x 6 rollouts = 240",
            EXACT,
            {"trainer.prompts_per_step": 40, "algorithm.num_generations": 6, "StepPlan.episodes_per_batch": 240},
        ),
        Row("iterations (generated batches)", "200", EXACT, {"trainer.max_steps": 200, "StepPlan.batches": 200}),
        Row("passes over each iteration's episodes", "2", EXACT, {"algorithm.num_iterations": 2, "StepPlan.epochs": 2}),
        Row(
            "minibatch",
            "32 episodes (240 / 32 = 7.5 per pass)",
            APPROXIMATION,
            {"algorithm.minibatch_size": 48, "StepPlan.minibatches": 5},
            note="StepPlan splits a batch into equal minibatches and 32 does not divide 240; 48 does and splits over "
            "LOOP's 4 training GPUs x trainer.micro_batch_size=4 (the divisors of 240 that are multiples of 16: 16, "
            "48, 80, 240)",
        ),
        Row(
            "optimizer steps per iteration",
            "about 15 (7.5 minibatches x 2 passes)",
            APPROXIMATION,
            {"StepPlan.optimizer_steps_per_batch": 10},
            note="follows from the minibatch of 48: 2,000 optimizer steps in the run instead of about 3,000, each on "
            "1.5 times the episodes",
        ),
        Row(
            "policy loss",
            "PPO, per-token importance ratios clipped at 0.1",
            EXACT,
            {
                "algorithm.importance_sampling_level": "token",
                "algorithm.epsilon": 0.1,
                "algorithm.epsilon_high": None,
            },
        ),
        Row(
            "baseline",
            "leave-one-out over the task's 6 rollouts, no reward-std normalisation, no value network",
            EXACT,
            {"algorithm.advantage_estimator": "leave_one_out", "algorithm.scale_rewards": "none"},
            note="TRL's r_i - mean_j r_j times G/(G-1), which is r_i - mean_{j!=i} r_j exactly when scale_rewards=none",
        ),
        Row("KL penalty", "none", EXACT, {"algorithm.beta": 0.0}),
        Row(
            "low-advantage rollouts",
            "rollouts with |advantage| < 0.01 left out (as this project's earlier table read LOOP; not re-checked)",
            APPROXIMATION,
            {"algorithm.filter_zero_variance_groups": False},
            note="zero-advantage episodes carry no gradient but count in the token mean; "
            "algorithm.filter_zero_variance_groups=true drops only whole groups of equal rewards",
        ),
        Row("reward", "fraction of the task's unit tests passed", EXACT, {"task.appworld.reward": "partial"}),
        Row(
            "training tasks",
            "AppWorld train split, difficulty 1 and 2",
            EXACT,
            {"task.split": None, "task.appworld.difficulties": [1, 2], "task.limit": None},
            note="task.split null is the train split for `rlagent train`; difficulties from each task's metadata",
        ),
        Row("sampling temperature", "1.0", EXACT, {"rollout.temperature": 1.0}),
        Row("context", "32k tokens", EXACT, {"rollout.vllm.max_model_len": 32768}),
        Row(
            "episode length",
            "the 32k context",
            APPROXIMATION,
            {"rollout.max_episode_tokens": 30000},
            note="rlagent cuts an episode at a token budget after the prompt (marked truncated); 30,000 leaves the "
            "prompt room within 32,768",
        ),
        Row("interactions per training episode", "40", EXACT, {"task.max_turns": 40}),
        Row(
            "interactions per evaluation episode",
            "50",
            EXACT,
            {"task.max_turns": 50},
            overrides=("task.max_turns=50",),
            command="eval",
        ),
        Row(
            "interactions in evaluations during training",
            "50 (LOOP's evaluation limit)",
            APPROXIMATION,
            {"task.max_turns": 40},
            note="one key serves training and evaluation: evaluations during training play the training limit",
        ),
        Row("tokens per model turn", "1,500", EXACT, {"rollout.max_new_tokens": 1500}),
        Row(
            "observation length",
            "cut at 3,000 tokens",
            APPROXIMATION,
            {"task.appworld.max_observation_chars": 12000},
            note="cut by characters (about 4 per token), with a marker saying how much was left out",
        ),
        Row(
            "final evaluation",
            "test-normal: all 168 tasks, every difficulty",
            EXACT,
            {"task.split": "test_normal", "task.appworld.eval_difficulties": [], "task.limit": None},
            overrides=("task.split=test_normal", "task.max_turns=50"),
            command="eval",
            note="the training filter (task.appworld.difficulties) does not apply to evaluations; the task count "
            "comes from AppWorld's split file",
        ),
        Row(
            "evaluations during training",
            "dev: all 57 tasks, every difficulty (how LOOP used dev during training is not restated here)",
            EXACT,
            {"task.eval_split": "dev", "trainer.eval_limit": 57, "task.appworld.eval_difficulties": []},
            note="every trainer.eval_steps=20 steps (rlagent's schedule)",
        ),
        Row(
            "hardware",
            "8 H100s: 4 train the policy (FSDP), 4 run vLLM",
            NOT_BUILT,
            rlagent="one training process and one engine (launcher=local)",
            note="GPU multi-process training and dedicated vLLM GPUs (launcher.vllm_gpus) are planned by --dry-run "
            "only (docs/SCALING.md)",
        ),
    ]


LOOP = Paper(
    key="loop",
    title="LOOP",
    source="LOOP (Chen et al. 2025, *Reinforcement Learning for Long-Horizon Interactive LLM Agents*), its AppWorld "
    "experiments (Qwen2.5-32B-Instruct, 39.2% -> 71.3% TGC on test-normal). The values are those this project took "
    "from the paper for the recipes; no copy of the paper was at hand to re-read them for this table.",
    recipes=("appworld_32b", "appworld_7b"),
    rows=_loop_rows,
)


# Search-R1 --------------------------------------------------------------------------------------------------------

SEARCH_R1_BATCH = ("trainer.prompts_per_step=512", "algorithm.num_generations=5")


def _search_r1_rows(recipe: str) -> list[Row]:
    nq = recipe.startswith("nq_")
    size = "3B" if recipe == "nq_3b" else "7B"
    top_k = 3 if nq else 5
    return [
        Row(
            "policy model",
            f"Qwen2.5-{size}, base and Instruct (both trained)",
            EXACT,
            {"model.name_or_path": f"Qwen/Qwen2.5-{size}-Instruct"},
            note="the Instruct variant",
        ),
        Row("adapters", "none: every weight trained", EXACT, {"model.lora.enabled": False}),
        Row(
            "training data",
            "NQ and HotpotQA train sets, merged",
            NOT_BUILT,
            {"task.dataset": "nq" if nq else "musique"},
            note=(
                "the recipe trains on NQ's train split alone; a merged file can be given as task.files.train, "
                "rlagent ships no merge"
                if nq
                else "the recipe trains on MuSiQue's train split, which Search-R1 only evaluates on"
            ),
        ),
        Row(
            "algorithm",
            "GRPO (PPO with a value model is also reported)",
            EXACT,
            {
                "algorithm.name": "grpo",
                "algorithm.advantage_estimator": "group_mean",
                "algorithm.scale_rewards": "group",
            },
            note="advantage (r - group mean) / group std; rlagent has no value model (PPO)",
        ),
        Row(
            "episodes per question (group)",
            "5",
            DIFFERS,
            {"algorithm.num_generations": 5},
            overrides=("algorithm.num_generations=5",),
            note="4, rlagent's default: the recipes are sized for one GPU",
        ),
        Row(
            "questions per batch",
            "512",
            DIFFERS,
            {"trainer.prompts_per_step": 512},
            overrides=("trainer.prompts_per_step=512",),
            note="32 from trainer=gpu: one GPU's batch (docs/SCALING.md plans nq_7b at 128 episodes a step)",
        ),
        Row(
            "episodes per batch",
            "2,560 (512 x 5)",
            DIFFERS,
            {"StepPlan.episodes_per_batch": 2560},
            overrides=SEARCH_R1_BATCH,
            note="follows from the two rows above",
        ),
        Row(
            "generated batches",
            "1,005 (trainer.total_training_steps)",
            DIFFERS,
            {"trainer.max_steps": 1005, "StepPlan.batches": 1005},
            overrides=("trainer.max_steps=1005",),
            note="200 from trainer=gpu",
        ),
        Row(
            "optimizer steps per batch",
            "10: minibatches of 256 episodes, 1 pass (the script's ppo_mini_batch_size=256 is scaled by rollout.n=1, "
            "not n_agent=5, in the verl fork's fsdp_workers.py)",
            DIFFERS,
            {
                "algorithm.minibatch_size": 256,
                "StepPlan.minibatches": 10,
                "StepPlan.epochs": 1,
                "StepPlan.optimizer_steps_per_batch": 10,
            },
            overrides=(*SEARCH_R1_BATCH, "algorithm.minibatch_size=256"),
            note="the recipes take one optimizer step on the whole batch (algorithm.minibatch_size=0)",
        ),
        Row("learning rate", "1e-6", EXACT, {"algorithm.learning_rate": 1e-6}),
        Row(
            "learning-rate schedule",
            "linear warm-up over 28.5% of the run, then constant",
            EXACT,
            {"algorithm.lr_scheduler_type": "constant_with_warmup", "algorithm.warmup_ratio": 0.285},
            note="verl counts the warm-up in batches (286 of 1,005), TRL in optimizer steps: the same share of the run",
        ),
        Row(
            "optimizer",
            "AdamW, weight decay 0.01, gradient clip 1.0 (verl's defaults; the script sets neither)",
            EXACT,
            {"algorithm.weight_decay": 0.01, "algorithm.max_grad_norm": 1.0},
        ),
        Row(
            "policy loss",
            "per-token ratios clipped at 0.2 (verl's clip_ratio)",
            EXACT,
            {"algorithm.importance_sampling_level": "token", "algorithm.epsilon": 0.2, "algorithm.epsilon_high": None},
        ),
        Row(
            "loss averaging",
            "token mean over each micro-batch (the verl fork's masked_mean)",
            DIFFERS,
            {"algorithm.loss_type": "bnpo"},
            overrides=("algorithm.loss_type=bnpo",),
            note="the grpo preset averages each episode's tokens first (DeepSeekMath's GRPO); which of the two the "
            "paper's equation writes was not checked here. With bnpo and trainer.micro_batch_size=8 (the script's 64 "
            "over 8 GPUs) the normaliser is the released code's",
        ),
        Row(
            "KL penalty",
            "KL loss to the initial policy, coefficient 0.001 (low_var_kl)",
            DIFFERS,
            {"algorithm.beta": 0.001},
            overrides=("algorithm.beta=0.001",),
            note="the grpo preset has none, and so no reference model (a full copy of the policy per GPU, "
            "docs/SCALING.md); TRL's KL term is the same k3 estimator, without verl's clamp to [-10, 10]",
        ),
        Row(
            "entropy bonus",
            "0.001 (verl's entropy_coeff default; the script does not set it)",
            NOT_BUILT,
            rlagent="no entropy term",
            note="TRL's GRPO loss has no entropy bonus",
        ),
        Row("sampling temperature", "1.0", EXACT, {"rollout.temperature": 1.0}),
        Row(
            "nucleus sampling",
            "top-p 0.95 (verl's default rollout config; the script does not set it)",
            APPROXIMATION,
            {"rollout.top_p": 1.0},
            note="rlagent samples the whole distribution, so the trainer's logprobs are the sampler's; "
            "rollout.top_p=0.95 is accepted but makes them differ",
        ),
        Row(
            "turns",
            "up to 4 search rounds, then a final answer turn (the script's max_turns=4)",
            EXACT if nq else DIFFERS,
            {"task.max_turns": 5, "task.search.max_searches": 4},
            overrides=() if nq else ("task.max_turns=5", "task.search.max_searches=4"),
            note=""
            if nq
            else "the musique task allows 6 searches in 6 turns for its 2- to 4-hop questions (Search-R1 used its "
            "NQ/HotpotQA limits when evaluating MuSiQue)",
        ),
        Row(
            "passages per search",
            "top 3",
            EXACT if nq else DIFFERS,
            {"task.search.top_k": 3},
            overrides=() if nq else ("task.search.top_k=3",),
            note="" if nq else "the musique task shows 5 (more hops, more chances to miss)",
        ),
        Row("tokens per model turn", "500 (max_response_length)", EXACT, {"rollout.max_new_tokens": 500}),
        Row(
            "observation length",
            "cut at 500 tokens (max_obs_length)",
            APPROXIMATION,
            {"task.search.passage_chars": 600, "task.search.top_k": top_k},
            note=f"rlagent cuts each passage at 600 characters: {top_k} x 600 = {top_k * 600:,} characters, about "
            f"{top_k * 150} tokens",
        ),
        Row(
            "context",
            "4,096 tokens of rolling context (max_prompt_length), the question's prompt at most 2,048",
            APPROXIMATION,
            {"rollout.max_episode_tokens": 4096, "rollout.vllm.max_model_len": 8192},
            note="rlagent counts its 4,096 after the prompt (the episode is then cut and marked truncated), within "
            "an 8,192-token engine context",
        ),
        Row(
            "reward",
            "exact match of the final answer (lower case, punctuation and articles removed)",
            EXACT,
            {"task.search.reward": "em"},
            note="SQuAD normalisation in both",
        ),
        Row(
            "protocol",
            "<search> / <answer> tags, results in <information>, retrieved tokens masked from the loss",
            EXACT,
            {"task.search.protocol": "tags"},
            note="rlagent masks every environment token",
        ),
        Row(
            "prompt",
            "Search-R1's instruction template as the user message",
            APPROXIMATION,
            rlagent="task.user_template",
            note="a shorter paraphrase with the same tags and instructions; passages shown as 'Doc i: (title) text' "
            "where Search-R1 writes 'Doc i(Title: title) text'",
        ),
        Row(
            "retriever",
            "E5 (intfloat/e5-base-v2), flat index over the 2018 Wikipedia dump (21M passages)",
            NOT_BUILT,
            {"task.search.retriever": "bm25"},
            note="rlagent retrieves in process: BM25 (the recipes') or a sentence-transformers index "
            "(task.search.retriever=dense); 21M passages need a retrieval server (docs/PERFORMANCE.md)",
        ),
        Row(
            "evaluation set",
            "NQ test: 3,610 questions"
            if nq
            else "MuSiQue dev: 2,417 questions (no test split; the count as commonly reported, not checked here)",
            APPROXIMATION,
            {"task.eval_split": "dev", "trainer.eval_limit": 200, "task.limit": None},
            note=(
                "task.source=hub plays nq_open's validation split (3,610 questions, the NQ-open test set as far as "
                "known here; not compared offline); the recipe's task.source=local plays whatever "
                "<data_dir>/nq/dev.jsonl holds"
                if nq
                else "task.source=hub plays the validation split of bdsaglam/musique (not compared offline); the "
                "recipe's task.source=local plays whatever <data_dir>/musique/dev.jsonl holds"
            )
            + "; `rlagent eval` plays all of it, evaluations during training the first trainer.eval_limit=200",
        ),
        Row(
            "evaluation decoding",
            "greedy (do_sample=False)",
            EXACT,
            {"eval.temperature": None, "eval.num_samples": 1},
            command="eval",
            note="eval.temperature null with one sample is greedy",
        ),
        Row(
            "hardware",
            "8 GPUs on one node",
            NOT_BUILT,
            rlagent="one training process and one engine (launcher=local)",
            note="GPU multi-process training is planned by --dry-run only (docs/SCALING.md)",
        ),
    ]


SEARCH_R1 = Paper(
    key="search_r1",
    title="Search-R1",
    source="Search-R1 (Jin et al. 2025, *Search-R1: Training LLMs to Reason and Leverage Search Engines with "
    "Reinforcement Learning*). No copy of the paper's text was at hand: the values come from the authors' release, "
    "the GRPO script `scripts/nq_hotpotqa/v0.2/train_grpo.sh` (its experiment log ties v0.2 to the paper) and the verl "
    "fork it runs (defaults the script leaves alone, `search_r1/llm_agent/generation.py`'s turn loop). The recipes "
    "keep Search-R1's protocol, limits and optimizer at one GPU's batch; `musique_7b` also keeps the musique task's "
    "own search limits.",
    recipes=("nq_3b", "nq_7b", "musique_7b"),
    rows=_search_r1_rows,
)

PAPERS = (LOOP, SEARCH_R1)


def paper_of(recipe: str) -> Paper:
    for paper in PAPERS:
        if recipe in paper.recipes:
            return paper
    raise KeyError(recipe)


def paper_overrides(recipe: str) -> list[str]:
    """The overrides that give every `differs` row of `recipe` the paper's value (later ones win, none conflict)."""
    seen: dict[str, str] = {}
    for row in paper_of(recipe).rows(recipe):
        if row.status == DIFFERS:
            for override in row.overrides:
                seen[override.split("=", 1)[0]] = override
    return list(seen.values())


def row_problems(row: Row) -> list[str]:
    """What is wrong with a row as data (not against a recipe): a status it cannot have, a missing reason."""
    problems = []
    if row.status not in STATUSES:
        problems.append(f"status {row.status!r} is not one of {STATUSES}")
    if row.status != EXACT and not row.note:
        problems.append(f"a row marked {row.status} needs a reason (note)")
    if row.status in (EXACT, DIFFERS) and not row.checks:
        problems.append(f"a row marked {row.status} needs checks")
    if row.status == DIFFERS and not row.overrides:
        problems.append("a row marked differs needs the overrides that give the paper's value")
    if row.status == EXACT and row.overrides and row.command != "eval":
        problems.append("an exact training row must hold without overrides")
    if row.status in (APPROXIMATION, NOT_BUILT) and row.overrides:
        problems.append(f"a row marked {row.status} has no overrides")
    if not row.checks and not row.rlagent:
        problems.append("a row without checks must say what rlagent has (rlagent)")
    return problems


# Markdown ---------------------------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _rlagent_cell(row: Row, cfg: RecipeConfig) -> str:
    parts = [f"`{name}` = {fmt(probe(cfg, name))}" for name in row.checks]
    if row.rlagent:
        parts.insert(0, row.rlagent)
    text = ", ".join(parts)
    if row.status == EXACT and row.overrides:
        text = f"`rlagent {row.command} ... {' '.join(row.overrides)}`: {text}"
    return text


def _status_cell(row: Row) -> str:
    if row.status == EXACT:
        return "exact" + (f": {row.note}" if row.note else "")
    text = f"**{row.status}**: {row.note}"
    if row.status == DIFFERS:
        text += f"; `{' '.join(row.overrides)}` gives the paper's value"
    return text


def markdown(paper: Paper) -> str:
    """The paper's parity table over its recipes (one line per quantity where every recipe agrees, else one per
    recipe), then for each recipe the overrides that give every row marked differs the paper's value."""
    per_recipe = {recipe: paper.rows(recipe) for recipe in paper.recipes}
    counts = {len(rows) for rows in per_recipe.values()}
    assert len(counts) == 1, f"{paper.title}: every recipe needs the same quantities"
    lines = [
        paper.source,
        "",
        f"| quantity | {paper.title} | rlagent (resolved recipe) | status |",
        "|---|---|---|---|",
    ]
    for index in range(counts.pop()):
        groups: dict[tuple[str, ...], list[str]] = {}
        for recipe, rows in per_recipe.items():
            row = rows[index]
            cfg = compose(recipe, row.overrides if row.status == EXACT else ())
            cells = (row.quantity, row.paper, _rlagent_cell(row, cfg), _status_cell(row))
            groups.setdefault(cells, []).append(recipe)
        for cells, recipes in groups.items():
            quantity = cells[0] if len(groups) == 1 else f"{cells[0]} ({', '.join(f'`{r}`' for r in recipes)})"
            lines.append("| " + " | ".join(_cell(c) for c in (quantity, *cells[1:])) + " |")
    lines.append("")
    for recipe in paper.recipes:
        extra = paper_overrides(recipe)
        if extra:
            lines += [
                f"`{recipe}` with the paper's value in every row marked differs:",
                "",
                f"    rlagent train recipe={recipe} {' '.join(extra)}",
                "",
            ]
    return "\n".join(lines).rstrip("\n") + "\n"


# Checks -----------------------------------------------------------------------------------------------------------


@functools.cache
def compose(recipe: str, overrides: tuple[str, ...] = ()) -> RecipeConfig:
    """`recipe` composed with `overrides` (cached: the rows compose the same few combinations)."""
    from rlagent.config.compose import compose_recipe

    return compose_recipe([f"recipe={recipe}", *overrides])[0]


def _mismatches(row: Row, recipe: str, overrides: tuple[str, ...]) -> list[str]:
    """How `recipe` composed with `overrides` differs from the row's checks; a composition or a probe that fails is
    one more line."""
    try:
        cfg = compose(recipe, overrides)
    except UserError as exc:
        return [f"{' '.join(overrides)} does not compose: {exc}"]
    out = []
    for name, want in row.checks.items():
        try:
            have = probe(cfg, name)
        except (AttributeError, UserError) as exc:
            out.append(f"{name} cannot be read: {exc}")
            continue
        if have != want:
            out.append(f"{name} = {fmt(have)}, the row says {fmt(want)}")
    return out


def verify(recipe: str, extra: tuple[str, ...] = (), only: str | None = None) -> list[str]:
    """Every way `recipe` (composed with `extra` overrides) disagrees with its paper's rows, one line each: an exact
    row whose value is not the paper's, a differs row whose overrides do not give the paper's value (or whose recipe
    already has it), an approximation or not-built row whose stated rlagent values are not the recipe's, a row that
    is malformed as data, and a row that no longer holds once every differs row's overrides are applied together.
    `only`: check just the row of that quantity."""
    rows = [row for row in paper_of(recipe).rows(recipe) if only is None or row.quantity == only]
    out = []
    for row in rows:
        where = f"{recipe}: {row.quantity!r} ({row.status})"
        out += [f"{where}: {problem}" for problem in row_problems(row)]
        if row.status == EXACT:
            out += [f"{where}: {m}" for m in _mismatches(row, recipe, (*extra, *row.overrides))]
        elif row.status == DIFFERS:
            if row.checks and not _mismatches(row, recipe, extra):
                out.append(f"{where}: the recipe already has the paper's value; mark the row exact")
            with_overrides = _mismatches(row, recipe, (*extra, *row.overrides))
            out += [f"{where} with {' '.join(row.overrides)}: {m}" for m in with_overrides]
        else:
            out += [f"{where}: {m}" for m in _mismatches(row, recipe, extra)]
    together = (*extra, *paper_overrides(recipe))
    for row in rows:
        if row.status == DIFFERS or (row.status == EXACT and row.command == "train"):
            out += [
                f"{recipe} with every paper override: {row.quantity!r}: {m}" for m in _mismatches(row, recipe, together)
            ]
    return out
