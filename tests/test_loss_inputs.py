"""What reaches TRL's loss, checked against hand-computed values: advantages per preset, partial group drops, errored
groups, truncation masks from the episode (not the last token), and the direction of one update.

Real TRL, a real tiny transformers model and the hf engine; the verifier is a table of rewards by sample so that each
group's rewards are known in advance."""

from __future__ import annotations

import math

import pytest
import torch

from rlagent.rollout.engines.factory import build_engine
from rlagent.tasks.base import Score
from rlagent.train.checkpoints import CheckpointStore
from rlagent.train.run import build_trainer

from .test_train import letter_task_run

pytestmark = pytest.mark.slow

# group 0 rewards one sample of four, group 1 gives all four the same reward (no signal)
TABLE = {0: [1.0, 0.0, 0.0, 0.0], 1: [0.5, 0.5, 0.5, 0.5]}


class TableVerifier:
    """Reward = TABLE[position of the episode's example in the batch][its sample index]."""

    def __init__(self, table: dict[int, list[float]], order: list[str]):
        self.table, self.order = table, order

    def score(self, episode):
        reward = self.table[self.order.index(episode.example.id)][episode.sample]
        return Score(reward=reward, success=reward > 0.75, metrics={})


def loss_inputs(tmp_path, tiny_path, name: str, *overrides: str, table=TABLE, episodes_hook=None):
    """One generated batch (2 prompts x 4 samples) through AgentGRPOTrainer._generate_and_score_completions: the
    tensors TRL's loss would get, the episodes and the trainer."""
    cfg, suite, run = letter_task_run(
        tmp_path,
        name,
        "rollout=hf",
        "trainer.prompts_per_step=2",
        "algorithm.num_generations=4",
        "trainer.micro_batch_size=4",
        "rollout.max_episode_tokens=4096",  # episodes end at task.max_turns, not truncated (unless a test says so)
        *overrides,
    )
    examples = suite.examples("train")
    engine = build_engine(cfg, tiny_path, training=True)
    trainer = build_trainer(cfg, run, suite, examples, tiny_path, engine, CheckpointStore(run.checkpoints))
    dataset = trainer.train_dataset
    rows = [dict(dataset[i]) for i in (0, 1) for _ in range(4)]
    suite.verifier = TableVerifier(table, [rows[0]["example_id"], rows[4]["example_id"]])
    if episodes_hook is not None:  # change the episodes the rollout returns (e.g. mark one truncated)
        original = trainer.agent._episodes

        def hooked(*args, **kwargs):
            batch = original(*args, **kwargs)
            episodes_hook(batch.episodes)
            return batch

        trainer.agent._episodes = hooked
    trainer.model.train()
    output = trainer._generate_and_score_completions(rows)
    engine.close()
    return output, trainer.agent.last_episodes, trainer


def loss_mask(output) -> torch.Tensor:
    """The tokens the loss counts: completion mask x tool mask (environment tokens are 0 in the tool mask)."""
    mask = output["completion_mask"]
    return mask * output["tool_mask"] if "tool_mask" in output else mask


def unbiased_std(values):
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def by_hand(preset: str, rewards: list[float]) -> list[float]:
    """Each preset's advantage of a group, from its definition (docs/ALGORITHMS.md), not from TRL."""
    g = len(rewards)
    mean = sum(rewards) / g
    if preset == "loop":  # leave-one-out: minus the mean of the other episodes, no std
        return [r - (sum(rewards) - r) / (g - 1) for r in rewards]
    if preset == "dr_grpo":  # no std normalisation
        return [r - mean for r in rewards]
    std = unbiased_std(rewards)  # grpo, dapo, gspo: divided by the group's std (+1e-4, TRL's epsilon)
    return [(r - mean) / (std + 1e-4) for r in rewards]


@pytest.mark.parametrize("preset", ["grpo", "dr_grpo", "dapo", "gspo", "loop"])
def test_advantages_per_preset_and_partial_group_drops(tmp_path, tiny_path, preset):
    output, episodes, _ = loss_inputs(
        tmp_path,
        tiny_path,
        preset,
        f"algorithm={preset}",
        "algorithm.num_generations=4",
        "algorithm.dynamic_sampling=false",
    )
    expected = by_hand(preset, TABLE[0]) + by_hand(preset, TABLE[1])
    got = output["advantages"].flatten().tolist()
    assert got == pytest.approx(expected, abs=1e-5), preset
    mask = loss_mask(output)
    model_tokens = [sum(ep.mask) for ep in episodes]
    # group 0 (reward variance) is in the loss with every model token
    assert [int(mask[i].sum()) for i in range(4)] == model_tokens[:4]
    if preset == "dapo":  # the zero-variance filter drops group 1 only, and the token count follows
        assert int(mask[4:].sum()) == 0
        assert int(output["num_items_in_batch"]) == sum(model_tokens[:4])
    else:  # its advantages are 0 anyway; it stays in the token count
        assert int(output["num_items_in_batch"]) == sum(model_tokens)


def test_errored_group_dropped_and_the_others_kept(tmp_path, tiny_path):
    def error_one(episodes):
        episodes[1].fail("the environment step raised (test)")

    output, episodes, trainer = loss_inputs(
        tmp_path,
        tiny_path,
        "err",
        "trainer.max_error_share=1.0",
        table={0: TABLE[0], 1: [1.0, 0.0, 1.0, 0.0]},
        episodes_hook=error_one,
    )
    mask = loss_mask(output)
    assert int(mask[:4].sum()) == 0  # the group with the errored episode leaves the loss
    assert [int(mask[i].sum()) for i in range(4, 8)] == [sum(ep.mask) for ep in episodes[4:]]
    assert trainer.step_metrics["rollout/errored_groups"] == 1


def test_truncation_comes_from_the_episode_not_the_last_token(tmp_path, tiny_path):
    """DAPO masks truncated episodes. The random tiny model's turns end on max_new_tokens without EOS (as a turn cut
    at a stop string such as </search> does), which TRL's test calls truncated: none of these episodes hit the
    episode budget, so all must stay in the loss; the one marked truncated (the episode budget ran out) must leave."""

    def cut_one(episodes):
        episodes[2].truncated, episodes[2].finish_reason = True, "max_tokens"

    output, episodes, trainer = loss_inputs(
        tmp_path,
        tiny_path,
        "trunc",
        "algorithm=dapo",
        "algorithm.dynamic_sampling=false",
        episodes_hook=cut_one,
    )
    assert [ep.finish_reason for ep in episodes if ep is not episodes[2]] == ["max_turns"] * 7
    ends_without_eos = [ep.completion_ids[-1] not in trainer.agent.loop.eos_ids for ep in episodes]
    assert sum(ends_without_eos) >= 4  # the case TRL's last-token test gets wrong
    mask = loss_mask(output)
    kept = [int(mask[i].sum()) for i in range(4)]
    assert kept[2] == 0
    assert [kept[i] for i in (0, 1, 3)] == [sum(episodes[i].mask) for i in (0, 1, 3)]
    assert trainer._metrics["train"]["completions/clipped_ratio"][-1] == pytest.approx(1 / 8)


def completion_logprob(model, episode) -> float:
    """Sum of the model's logprobs of the episode's model tokens (environment tokens excluded)."""
    ids = torch.tensor([episode.prompt_ids + episode.completion_ids])
    with torch.no_grad():
        logits = model(ids).logits[0, len(episode.prompt_ids) - 1 : -1].float()
    logps = torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(episode.completion_ids).unsqueeze(1)).squeeze(1)
    return float((logps * torch.tensor(episode.mask, dtype=logps.dtype)).sum())


@pytest.mark.parametrize("preset", ["grpo", "dr_grpo", "dapo", "gspo", "loop"])
def test_one_update_moves_logprobs_towards_the_rewarded_episode(tmp_path, tiny_path, preset):
    """After one training step on two groups of [rewarded, unrewarded], each rewarded completion is likelier and each
    unrewarded one less likely under the policy (a sign-flipped advantage fails this; weights merely moving does
    not pass it)."""
    cfg_overrides = (
        f"algorithm={preset}",
        "algorithm.num_generations=2",
        "trainer.prompts_per_step=2",
        "trainer.micro_batch_size=2",
        "trainer.max_steps=1",
        "algorithm.learning_rate=1e-4",
        "rollout=hf",
        "rollout.max_episode_tokens=4096",  # episodes end at task.max_turns, not truncated: all stay in the loss
    )
    cfg, suite, run = letter_task_run(tmp_path, preset, *cfg_overrides)
    examples = suite.examples("train")
    engine = build_engine(cfg, tiny_path, training=True)
    trainer = build_trainer(cfg, run, suite, examples, tiny_path, engine, CheckpointStore(run.checkpoints))
    suite.verifier = SampleVerifier()
    before = {}

    original = trainer.agent._episodes

    def remember(*args, **kwargs):
        batch = original(*args, **kwargs)
        for ep in batch.episodes:
            before[(ep.example.id, ep.sample)] = (ep, completion_logprob(trainer.model, ep))
        return batch

    trainer.agent._episodes = remember
    trainer.train()
    engine.close()
    assert trainer.state.global_step == (2 if preset == "loop" else 1)  # loop: two epochs over the batch
    assert len(before) == 4
    for (_, sample), (ep, old) in before.items():
        new = completion_logprob(trainer.model, ep)
        if sample == 0:
            assert new > old, f"{preset}: the rewarded completion's logprob fell ({old:.4f} -> {new:.4f})"
        else:
            assert new < old, f"{preset}: the unrewarded completion's logprob rose ({old:.4f} -> {new:.4f})"


class SampleVerifier:
    """Sample 0 of every group is rewarded, the others not."""

    def score(self, episode):
        return Score(reward=float(episode.sample == 0), success=episode.sample == 0, metrics={})


def test_a_last_turn_cut_by_the_episode_budget_is_truncated(tmp_path, tiny_path):
    """One turn allowed, 64 tokens per turn but 16 in the episode: every episode ends at max_turns with its only turn
    cut by the episode budget, so each is truncated (and DAPO masks it), not only those whose next turn had no
    budget left."""
    output, episodes, trainer = loss_inputs(
        tmp_path,
        tiny_path,
        "budget",
        "algorithm=dapo",
        "task.max_turns=1",
        "rollout.max_new_tokens=64",
        "rollout.max_episode_tokens=16",
        table={0: TABLE[0], 1: [1.0, 0.0, 1.0, 0.0]},
    )
    assert [(ep.finish_reason, ep.truncated, sum(ep.mask)) for ep in episodes] == [("max_turns", True, 16)] * 8
    assert int(loss_mask(output).sum()) == 0
    assert trainer._metrics["train"]["completions/clipped_ratio"][-1] == 1.0
