"""Supervised warm start: record the suite's oracle through the agent loop, fine-tune the policy on it.

A base policy that never succeeds gives GRPO nothing to learn from (every group has zero reward
variance). A few passes of cross-entropy on oracle turns, with exactly the token layout the RL loss
sees (prompt, model tokens with mask 1, environment tokens with mask 0), move it to where groups have
variance. Only model tokens are trained; environment tokens are context.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from rlagent.config.schema import WarmStartConfig
from rlagent.errors import UserError
from rlagent.rollout.chat import ChatFormat
from rlagent.rollout.engines.scripted import ScriptedEngine
from rlagent.rollout.episode import Episode
from rlagent.rollout.loop import AgentLoop, LoopSettings, score_episodes
from rlagent.tasks.base import Example, TaskSuite


@dataclass
class WarmStartReport:
    """What the warm start did, for metrics.jsonl and the terminal."""

    demos: int
    demo_success: float
    optimizer_steps: int
    first_loss: float
    last_loss: float
    seconds: float

    def metrics(self) -> dict[str, float]:
        return {f"warm_start/{k}": float(v) for k, v in vars(self).items()}


def has_oracle(suite: TaskSuite) -> bool:
    return callable(getattr(suite, "demonstration", None))


def record_demonstrations(
    suite: TaskSuite, examples: list[Example], tokenizer: Any, eos_ids: set[int], settings: LoopSettings, limit: int
) -> list[Episode]:
    """The oracle's episodes of up to `limit` examples (in order), scored by the suite's verifier."""
    if not has_oracle(suite):
        raise UserError(f"trainer.warm_start needs a task with an oracle; task suite '{suite.name}' has none")
    engine = ScriptedEngine(tokenizer, eos_ids)
    chats: dict[int, ChatFormat] = {}
    items: list[tuple[Example, int]] = []
    for example in examples:
        if len(items) >= limit:
            break
        turns = suite.demonstration(example)  # type: ignore[attr-defined]
        if not turns:
            continue
        env = suite.make_env(example)
        try:
            messages, tools = env.reset(), env.tools
        finally:
            env.close()
        key = id(tools) if tools is not None else 0
        chat = chats.setdefault(key, ChatFormat(tokenizer, tools, eos_ids))
        try:
            engine.add(chat.prompt_ids(messages), turns)
        except ValueError:  # the same prompt twice: one demonstration is enough
            continue
        items.append((example, 0))
    if not items:
        raise UserError(f"trainer.warm_start: the oracle of task suite '{suite.name}' solves none of the examples")
    loop = AgentLoop(engine, suite, settings)
    try:
        episodes = loop.run(items)
    except KeyError:
        raise UserError(
            f"trainer.warm_start: the environment of task suite '{suite.name}' opened an episode with another prompt "
            "than its first reset gave (is reset deterministic?), so the oracle's turns cannot be matched to it"
        ) from None
    for ep in episodes:
        ep.env_state["script_exhausted"] = engine.exhausted(ep.prompt_ids)
    score_episodes(suite, episodes)
    return episodes


def _batch(episodes: list[Episode], pad_id: int) -> tuple[torch.Tensor, ...]:
    """Left-padded ids, attention mask, position ids and the loss mask of the model tokens; every
    sequence ends at the last position, so the logits of the last `keep` positions cover all targets."""
    seqs = [ep.prompt_ids + ep.completion_ids for ep in episodes]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    attention = torch.zeros_like(ids)
    target = torch.zeros_like(ids)
    for row, (seq, ep) in enumerate(zip(seqs, episodes, strict=True)):
        ids[row, width - len(seq) :] = torch.tensor(seq)
        attention[row, width - len(seq) :] = 1
        target[row, width - len(ep.mask) :] = torch.tensor(ep.mask)
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    return ids, attention, positions, target


def token_loss_sum(model: Any, episodes: list[Episode], pad_id: int) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy of the model tokens of `episodes` and how many there are."""
    ids, attention, positions, target = _batch(episodes, pad_id)
    keep = max(len(ep.completion_ids) for ep in episodes) + 1
    keep = min(keep, ids.size(1))
    device = next(model.parameters()).device
    logits = model(
        input_ids=ids.to(device),
        attention_mask=attention.to(device),
        position_ids=positions.to(device),
        logits_to_keep=keep,
        use_cache=False,
    ).logits
    labels = ids[:, -keep + 1 :].to(device)
    mask = target[:, -keep + 1 :].to(device).bool()
    predicted = logits[:, :-1][mask].float()  # position t predicts token t+1; only model tokens, in fp32
    loss = torch.nn.functional.cross_entropy(predicted, labels[mask], reduction="sum")
    return loss, int(mask.sum())


def fine_tune(
    model: Any,
    episodes: list[Episode],
    cfg: WarmStartConfig,
    pad_id: int,
    seed: int,
    say: Callable[[str], None],
    gradient_checkpointing: bool = False,
) -> tuple[int, float, float]:
    """AdamW on the oracle's model tokens; returns (optimizer steps, first loss, last loss) with each loss the
    mean per-token cross-entropy of its optimizer step."""
    params = [p for p in model.parameters() if p.requires_grad]
    if gradient_checkpointing and hasattr(model, "gradient_checkpointing_enable"):
        # transformers turns it on only inside Trainer.train(); the warm start runs before that
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
    rng = random.Random(seed)
    total = cfg.epochs * -(-len(episodes) // cfg.batch_size)
    steps, first, last = 0, float("nan"), float("nan")
    model.train()
    for _ in range(cfg.epochs):
        order = list(episodes)
        rng.shuffle(order)
        for start in range(0, len(order), cfg.batch_size):
            batch = order[start : start + cfg.batch_size]
            tokens = sum(sum(ep.mask) for ep in batch)
            if not tokens:
                continue
            step_loss = 0.0
            for micro in range(0, len(batch), cfg.micro_batch_size):
                loss_sum, _ = token_loss_sum(model, batch[micro : micro + cfg.micro_batch_size], pad_id)
                (loss_sum / tokens).backward()
                step_loss += float(loss_sum.detach()) / tokens
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            steps += 1
            first = step_loss if steps == 1 else first
            last = step_loss
            if steps == 1 or steps % 5 == 0 or steps == total:
                say(f"warm start: step {steps}/{total}  loss {step_loss:.3f}")
    del optimizer
    return steps, first, last


def warm_start(
    model: Any,
    suite: TaskSuite,
    examples: list[Example],
    tokenizer: Any,
    eos_ids: set[int],
    settings: LoopSettings,
    cfg: WarmStartConfig,
    seed: int,
    say: Callable[[str], None],
    gradient_checkpointing: bool = False,
) -> WarmStartReport:
    """Record up to cfg.demos oracle episodes of `examples`, keep the successful ones, fine-tune on them."""
    started = time.perf_counter()
    episodes = record_demonstrations(suite, examples, tokenizer, eos_ids, settings, cfg.demos)
    # an episode that outlived its script (the environment wanted more turns) ends in empty turns: not a demonstration
    solved = [ep for ep in episodes if ep.success and sum(ep.mask) and not ep.env_state.get("script_exhausted")]
    say(f"warm start: the oracle solved {len(solved)}/{len(episodes)} train examples; fine-tuning on them")
    if not solved:
        raise UserError("trainer.warm_start: no oracle episode succeeded within the rollout budgets")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos_ids)
    steps, first, last = fine_tune(model, solved, cfg, pad_id, seed, say, gradient_checkpointing)
    return WarmStartReport(
        demos=len(solved),
        demo_success=len(solved) / len(episodes),
        optimizer_steps=steps,
        first_loss=first,
        last_loss=last,
        seconds=time.perf_counter() - started,
    )
