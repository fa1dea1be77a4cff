"""Dynamic sampling (algorithm.dynamic_sampling): groups without reward variance are replaced by fresh groups of other
examples, up to dynamic_sampling_rounds extra rounds, and the batch keeps its shape."""

from __future__ import annotations

import pytest

from rlagent.rollout.engines.factory import build_engine
from rlagent.rollout.episode import Episode
from rlagent.tasks.base import Example, Score
from rlagent.train.checkpoints import CheckpointStore
from rlagent.train.dynamic_sampling import has_signal, refill
from rlagent.train.run import build_trainer

from .test_train import letter_task_run

EXAMPLES = [Example(f"q{i}", {}) for i in range(8)]


def reward_of(example_id: str, sample: int) -> float:
    """Even-numbered examples split their group (signal), odd ones give every sample 0 (no signal)."""
    return float(sample % 2) if int(example_id[1:]) % 2 == 0 else 0.0


def played(items):
    episodes = []
    for ex, sample in items:
        ep = Episode(ex, sample)
        ep.reward = reward_of(ex.id, sample)
        episodes.append(ep)
    return episodes


def test_groups_without_signal_are_replaced_in_place():
    batch = played([(EXAMPLES[i], s) for i in (0, 1, 3, 2) for s in range(4)])  # groups 1 and 2 have no signal
    rounds = []

    def play(items, round_):
        rounds.append([ex.id for ex, s in items if s == 0])
        return played(items)

    new, stats = refill(batch, 4, play, lambda eps: None, EXAMPLES, max_rounds=5, seed=0)
    assert len(new) == 16 and [ep.example.id for ep in new[:4]] == ["q0"] * 4 and new[12].example.id == "q2"
    assert all(has_signal(new[i : i + 4]) for i in range(0, 16, 4))  # every slot filled with an even example
    assert sorted(stats.replaced) == [1, 2]
    assert all(not set(r) & {"q0", "q1", "q2", "q3"} for r in rounds)  # drawn from examples not in the batch
    assert stats.groups_kept == 4 and stats.groups_generated == 4 + sum(len(r) for r in rounds)
    assert stats.groups_dropped == stats.groups_generated - 4 and 1 <= stats.rounds <= 5


def test_the_rounds_are_capped_and_what_is_left_stays():
    batch = played([(EXAMPLES[i], s) for i in (1, 3) for s in range(2)])
    odd = [ex for ex in EXAMPLES if int(ex.id[1:]) % 2]  # no example with signal to draw
    new, stats = refill(batch, 2, lambda items, r: played(items), lambda eps: None, odd, max_rounds=2, seed=0)
    assert [ep.example.id for ep in new] == ["q1", "q1", "q3", "q3"]
    assert (stats.rounds, stats.groups_kept, stats.replaced) == (2, 0, [])
    errored = played([(EXAMPLES[0], s) for s in range(2)])
    errored[0].fail("the world server died (test)")
    assert not has_signal(errored)  # an errored group has no baseline: replaced too


class ParityVerifier:
    """reward_of, by the example's position in the training list."""

    def __init__(self, ids):
        self.position = {example_id: i for i, example_id in enumerate(ids)}

    def score(self, episode):
        reward = reward_of(f"q{self.position[episode.example.id]}", episode.sample)
        return Score(reward=reward, success=reward > 0, metrics={})


@pytest.mark.slow
@pytest.mark.parametrize("dynamic", [False, True])
def test_a_training_batch_holds_more_groups_with_signal(tmp_path, tiny_path, dynamic):
    """The same seeded batch (4 prompts x 2 samples, the tiny model on the hf engine): without dynamic sampling the
    odd examples' groups carry nothing; with it they are replaced, so every group of the batch that trains has
    signal, and dynamic/* counts what it cost."""
    cfg, suite, run = letter_task_run(
        tmp_path,
        "dyn",
        "rollout=hf",
        "algorithm=dapo",
        f"algorithm.dynamic_sampling={str(dynamic).lower()}",
        "algorithm.dynamic_sampling_rounds=4",
        "trainer.prompts_per_step=4",
        "algorithm.num_generations=2",
        "trainer.micro_batch_size=4",
        "rollout.max_new_tokens=4",
    )
    examples = suite.examples("train")
    suite.verifier = ParityVerifier([ex.id for ex in examples])
    engine = build_engine(cfg, tiny_path, training=True)
    trainer = build_trainer(cfg, run, suite, examples, tiny_path, engine, CheckpointStore(run.checkpoints))
    dataset = trainer.train_dataset
    rows = [dict(dataset[i]) for i in (1, 3, 0, 2) for _ in range(2)]  # two groups without signal, two with
    trainer.model.train()
    trainer._generate_and_score_completions(rows)
    engine.close()
    metrics = trainer.step_metrics
    if dynamic:
        assert metrics["rollout/zero_variance_groups"] == 0.0
        assert metrics["dynamic/groups_kept"] == 4 and metrics["dynamic/rounds"] >= 1
        assert metrics["dynamic/groups_generated"] >= 6 and metrics["timing/dynamic_sampling_s"] > 0
        assert all(ep.scored for ep in trainer.agent.last_episodes)
    else:
        assert metrics["rollout/zero_variance_groups"] == 0.5
        assert "dynamic/groups_kept" not in metrics
