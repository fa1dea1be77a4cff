"""The supervised warm start: oracle demonstrations through the agent loop, the masked cross-entropy, the
fine-tune, and its place in `rlagent train` (base evaluation, closing table, bad input)."""

import json
import subprocess
import sys

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rlagent.config.compose import compose_recipe
from rlagent.config.schema import WarmStartConfig
from rlagent.rollout.engines.base import Sampling
from rlagent.rollout.engines.scripted import ScriptedEngine
from rlagent.rollout.loop import LoopSettings
from rlagent.tasks.search.suite import SearchSuite
from rlagent.train.warm_start import fine_tune, record_demonstrations, token_loss_sum


def _setup(tiny_path, *overrides):
    budgets = ["task.max_turns=4", "rollout.max_episode_tokens=640"]  # room for 3 searches and the answer
    cfg, _ = compose_recipe(["recipe=smoke_search", *budgets, *overrides])
    suite = SearchSuite(cfg.task)
    tokenizer = AutoTokenizer.from_pretrained(tiny_path)
    return cfg, suite, tokenizer


@pytest.mark.parametrize("protocol", ["tags", "tools"])
def test_oracle_demonstrations_solve_the_knowledge_base_through_the_agent_loop(tiny_path, protocol):
    cfg, suite, tokenizer = _setup(tiny_path, "task.synthetic.max_hops=3", f"task.search.protocol={protocol}")
    examples = suite.examples("train")
    episodes = record_demonstrations(
        suite, examples, tokenizer, {tokenizer.eos_token_id}, LoopSettings.from_config(cfg), 20
    )
    assert len(episodes) == 20
    assert all(ep.success and ep.reward == 1.0 for ep in episodes)
    multi_hop = [ep for ep in episodes if ep.example.data["hops"] > 1]
    assert multi_hop, "the sample should hold multi-hop questions"
    for ep in multi_hop:
        assert ep.metrics["searches"] == ep.example.data["hops"]  # one search per hop, then the answer
    ep = episodes[0]
    model_text = tokenizer.decode([t for t, m in zip(ep.completion_ids, ep.mask, strict=True) if m])
    for turn in suite.demonstration(ep.example):
        assert turn in model_text  # the oracle's turns are the model tokens ...
    env_text = tokenizer.decode([t for t, m in zip(ep.completion_ids, ep.mask, strict=True) if not m])
    assert ep.example.data["supporting_ids"] and "Doc 1:" in env_text  # ... the retrieved passages are not
    assert 0 < sum(ep.mask) < len(ep.mask)


def test_scripted_engine_ends_turns_like_a_sampled_model(tiny_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_path)
    eos = tokenizer.eos_token_id
    engine = ScriptedEngine(tokenizer, {eos})
    engine.add([1, 2, 3], ["<search> x </search>", "plain reply"])
    stop = Sampling(max_tokens=64, stop=["</search>"])
    first, second, third = (engine.generate([[1, 2, 3, 9]], [stop])[0] for _ in range(3))
    assert first.token_ids[-1] != eos and tokenizer.decode(first.token_ids) == "<search> x </search>"
    assert second.token_ids[-1] == eos  # no stop string ends it: the end-of-turn token does
    assert third.token_ids == [eos]  # script exhausted
    with pytest.raises(KeyError):
        engine.generate([[4, 5]], [stop])


def test_masked_loss_ignores_padding_and_environment_tokens(tiny_path):
    cfg, suite, tokenizer = _setup(tiny_path, "task.synthetic.max_hops=2")
    episodes = record_demonstrations(
        suite, suite.examples("train"), tokenizer, {tokenizer.eos_token_id}, LoopSettings.from_config(cfg), 3
    )
    assert len({len(ep.prompt_ids) + len(ep.completion_ids) for ep in episodes}) > 1  # padding is exercised
    model = AutoModelForCausalLM.from_pretrained(tiny_path, dtype=torch.float32).eval()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with torch.no_grad():
        batched, tokens = token_loss_sum(model, episodes, pad)
        singles = [token_loss_sum(model, [ep], pad) for ep in episodes]
        # reference: an unpadded forward pass per episode, cross-entropy of mask-1 tokens only
        reference = 0.0
        for ep in episodes:
            ids = torch.tensor([ep.prompt_ids + ep.completion_ids])
            logits = model(input_ids=ids).logits[0, :-1]
            labels = ids[0, 1:]
            mask = torch.tensor([0] * (len(ep.prompt_ids) - 1) + ep.mask, dtype=torch.bool)
            reference += torch.nn.functional.cross_entropy(logits[mask], labels[mask], reduction="sum").item()
    assert tokens == sum(sum(ep.mask) for ep in episodes) == sum(n for _, n in singles)
    assert batched.item() == pytest.approx(reference, rel=1e-4)
    assert sum(s.item() for s, _ in singles) == pytest.approx(reference, rel=1e-4)


def test_fine_tune_lowers_the_loss_of_the_demonstrations(tiny_path):
    cfg, suite, tokenizer = _setup(tiny_path)
    episodes = record_demonstrations(
        suite, suite.examples("train"), tokenizer, {tokenizer.eos_token_id}, LoopSettings.from_config(cfg), 8
    )
    model = AutoModelForCausalLM.from_pretrained(tiny_path, dtype=torch.float32)
    pad = tokenizer.eos_token_id
    with torch.no_grad():
        before, n = token_loss_sum(model, episodes, pad)
    lines = []
    ws = WarmStartConfig(demos=8, epochs=6, learning_rate=2e-3, batch_size=4, micro_batch_size=2)
    steps, first, last = fine_tune(model, episodes, ws, pad, seed=0, say=lines.append)
    with torch.no_grad():
        after, _ = token_loss_sum(model, episodes, pad)
    assert steps == 12 and lines[0].startswith("warm start: step 1/12")
    assert after.item() / n < 0.7 * before.item() / n
    assert last < first


def rlagent(*args):
    return subprocess.run([sys.executable, "-m", "rlagent", *args], capture_output=True, text=True)


@pytest.mark.slow
def test_train_with_a_warm_start_evaluates_the_base_policy_and_shows_the_change(tmp_path, tiny_path):
    run_dir = tmp_path / "ws"
    args = (
        "recipe=smoke_search",
        f"run.dir={run_dir}",
        "trainer.max_steps=1",
        "trainer.eval_steps=1",
        "trainer.eval_limit=4",
        "trainer.warm_start.demos=8",
        "trainer.warm_start.learning_rate=1e-3",
        "trainer.warm_start.epochs=2",
        "task.max_turns=4",
        "rollout.max_episode_tokens=640",
    )
    result = rlagent("train", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    eval_steps = [r["step"] for r in rows if "eval/dev/success" in r]
    assert eval_steps == [-1, 0, 1]  # base policy, after the warm start, after one RL step
    report = next(r for r in rows if "warm_start/demos" in r)
    assert report["step"] == 0 and report["warm_start/demos"] == 8 and report["warm_start/optimizer_steps"] == 4
    assert report["warm_start/last_loss"] < report["warm_start/first_loss"]
    assert (run_dir / "eval" / "dev-base.json").is_file() and (run_dir / "eval" / "dev-step-0.json").is_file()
    assert "step 0 (warm start)" in result.stdout and "success change vs base" in result.stdout
    # a crash before the first complete checkpoint: resuming redoes the warm start and step 0, keeps the base eval
    (run_dir / "checkpoints" / "step-1" / "rlagent_checkpoint.json").unlink()
    again = rlagent("train", *args, "resume=true")
    assert again.returncode == 0, again.stderr[-3000:]
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "eval/dev/success" in r] == [-1, 0, 1]
    assert len([r for r in rows if "warm_start/demos" in r]) == 1
    assert "eval dev at the base policy" not in again.stderr  # its evaluation was kept, not redone
    # the engine evaluated the warm-started weights at step 0, not the base ones
    base = json.loads((run_dir / "eval" / "dev-base.rollouts.jsonl").read_text().splitlines()[0])
    warm = json.loads((run_dir / "eval" / "dev-step-0.rollouts.jsonl").read_text().splitlines()[0])
    assert base["messages"][-1] != warm["messages"][-1] or base["turns"] != warm["turns"]


def test_warm_start_bad_input_is_one_line_exit_2(tmp_path):
    data = tmp_path / "data" / "nq"
    data.mkdir(parents=True)
    for split in ("train", "dev"):
        (data / f"{split}.jsonl").write_text(json.dumps({"id": f"{split}1", "question": "q?", "answer": "a"}) + "\n")
    (data / "corpus.jsonl").write_text(json.dumps({"id": "p1", "title": "t", "text": "a is here"}) + "\n")
    cases = [
        (["recipe=smoke_search", "trainer.warm_start.demos=4", "trainer.warm_start.epochs=0"], "trainer.warm_start"),
        (["recipe=smoke_search", "trainer.warm_start.demos=4", "trainer.warm_start.learning_rate=0"], "> 0"),
        (["recipe=smoke_search", "trainer.warm_start.demos=4", "algorithm.beta=0.1"], "KL reference"),
        (
            [
                "recipe=nq_3b",
                "model=tiny",
                "trainer=smoke",
                f"task.data_dir={tmp_path / 'data'}",
                "trainer.warm_start.demos=4",
            ],
            "returned no demonstration",
        ),
    ]
    root = tmp_path / "runs"
    for overrides, message in cases:
        result = rlagent("train", *overrides, f"run.root={root}")
        assert result.returncode == 2, (overrides, result.stderr[-2000:])
        assert message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not root.exists() or not any(root.iterdir())


def test_appsim_oracle_demonstrations_complete_their_tasks(tiny_path):
    cfg, _ = compose_recipe(["recipe=smoke_appsim", "rollout.max_new_tokens=256", "rollout.max_episode_tokens=1024"])
    from rlagent.tasks.registry import build_suite

    suite = build_suite(cfg.task)
    tokenizer = AutoTokenizer.from_pretrained(tiny_path)
    episodes = record_demonstrations(
        suite, suite.examples("train"), tokenizer, {tokenizer.eos_token_id}, LoopSettings.from_config(cfg), 6
    )
    assert len(episodes) == 6 and all(ep.success for ep in episodes)
    assert all(len(ep.turns) == 1 and ep.metrics["api_calls"] > 0 for ep in episodes)


def test_nq_oracle_is_grounded_in_what_its_search_shows(data_dir):
    """On real datasets the oracle searches the question and answers only with a gold answer the shown passages
    contain: every demonstration is grounded, and questions whose search misses get none."""
    from rlagent.config.schema import TaskConfig
    from rlagent.tasks.search.answers import normalize_answer
    from rlagent.tasks.search.suite import SearchSuite

    suite = SearchSuite(TaskConfig(dataset="nq", source="local", data_dir=str(data_dir)))
    examples = suite.examples("train")[:60]
    demos = {ex.id: suite.demonstration(ex) for ex in examples}
    given = [ex for ex in examples if demos[ex.id]]
    assert 0 < len(given) < len(examples)  # BM25 finds an answer for most questions here, not all
    for ex in examples:
        shown = " ".join(
            normalize_answer(p.render(suite.cfg.search.passage_chars))
            for p in suite.retriever.search(ex.data["question"], suite.cfg.search.top_k)
        )
        turns = demos[ex.id]
        if turns is None:
            wanted = [normalize_answer(a) for a in ex.data["answers"]]
            assert not any(w and f" {w} " in f" {shown} " for w in wanted)
            continue
        search, answer = turns
        assert search == f"<search> {ex.data['question']} </search>"
        answered = answer.removeprefix("<answer> ").removesuffix(" </answer>")
        assert answered in ex.data["answers"] and f" {normalize_answer(answered)} " in f" {shown} "
