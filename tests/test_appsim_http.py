"""appsim served over HTTP: `rlagent appsim serve` processes in the suite's server pool, played through the
shared agent loop, a server killed mid-episode, and the HTTP client's view of appsim's protocol replies."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import requests

from rlagent.config.schema import AppWorldConfig, TaskConfig
from rlagent.rollout.engines.base import Generation
from rlagent.rollout.loop import AgentLoop, LoopSettings, score_episodes
from rlagent.tasks.appworld.client import WorldServerError
from rlagent.tasks.appworld.suite import AppWorldSuite
from tests.appsim_policies import AppsimOracle
from tests.test_appworld_client import group_members

SETTINGS = dict(max_turns=3, max_new_tokens=1024, max_episode_tokens=4096, max_model_len=32768)


class TokenOracle:
    """AppsimOracle as a token engine (so episodes carry real token ids and masks); `before_reply` runs before
    each generation, between the environment's reset and its first step."""

    name = "appsim-oracle-tokens"

    def __init__(self, tokenizer, examples, before_reply=None):
        self.tokenizer = tokenizer
        self.eos_ids = {tokenizer.eos_token_id}
        self.oracle = AppsimOracle(examples)
        self.before_reply = before_reply

    def generate(self, prompts, sampling):
        if self.before_reply is not None:
            self.before_reply()
        out = []
        for ids in prompts:
            text = self.tokenizer.decode(ids)
            code = next(code for key, code in self.oracle.code.items() if key in text)
            reply = f"```python\n{code}```"
            tokens = [*self.tokenizer.encode(reply, add_special_tokens=False), self.tokenizer.eos_token_id]
            out.append(Generation(tokens, [-0.5] * len(tokens), reply, "stop"))
        return out

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    cfg = TaskConfig(suite="appsim", dataset="appsim", source="synthetic", max_turns=3)
    cfg.appworld = AppWorldConfig(world="appsim_servers", num_servers=2, server_start_timeout_s=60)
    built = AppWorldSuite(cfg)
    with pytest.MonkeyPatch.context() as patch:  # the pool's logs go under $RLAGENT_HOME/logs
        patch.setenv("RLAGENT_HOME", str(tmp_path_factory.mktemp("home")))
        assert len(built.pool.servers) == 2
    yield built
    built.close()


@pytest.fixture(scope="module")
def examples(suite):
    return suite.examples("dev")[::6][:4]  # four scenarios of four templates


def play(engine, suite, examples, batch_size=2):
    loop = AgentLoop(engine, suite, LoopSettings(batch_size=batch_size, **SETTINGS))
    episodes = loop.run([(ex, 0) for ex in examples], seed=0)
    score_episodes(suite, episodes)
    return episodes


def test_oracle_succeeds_on_every_episode_over_http(suite, examples, smol_tokenizer):
    # batch_size = num_servers: each episode holds a server from reset to close
    episodes = play(TokenOracle(smol_tokenizer, examples), suite, examples)
    assert [ep.env_state["errored"] for ep in episodes] == [False] * 4
    assert all(ep.success and ep.reward == 1.0 and ep.env_state["evaluation"]["success"] for ep in episodes)
    assert all(ep.finish_reason == "done" and sum(ep.mask) > 0 for ep in episodes)
    assert sorted(suite.pool.idle, key=lambda s: s.index) == suite.pool.servers  # every server is back


def test_server_killed_mid_episode_errors_it_and_the_pool_restarts_it(suite, examples, smol_tokenizer):
    killed = []

    def kill_held_server():
        if killed:
            return
        held = [server for server in suite.pool.servers if server not in suite.pool.idle]
        assert len(held) == 1
        os.killpg(held[0].process.pid, signal.SIGKILL)
        held[0].process.wait(timeout=10)
        killed.append(held[0])

    restarts = suite.pool.restarts()
    [episode] = play(TokenOracle(smol_tokenizer, examples, kill_held_server), suite, examples[:1], batch_size=1)
    assert killed and episode.env_state["errored"] is True and "exited with code -9" in episode.env_state["error"]
    assert episode.mask and not any(episode.mask)  # model tokens out of the loss
    assert episode.env_state["evaluation"] == {} and not episode.success

    # the killed server is back in the pool, restarted by the next acquire
    episodes = play(TokenOracle(smol_tokenizer, examples), suite, examples[:2])
    assert all(ep.success and not ep.env_state["errored"] for ep in episodes)
    assert suite.pool.restarts() == restarts + 1 and killed[0].process.poll() is None


def test_http_client_on_appsim_serve(suite, examples):
    task_id = examples[0].id
    with suite.pool.acquire(timeout_s=30) as lease:
        client = lease.client
        with pytest.raises(WorldServerError) as raised:
            client.execute("nosuch_1", "print(1)")
        assert raised.value.status == 500 and raised.value.endpoint == "/execute"
        assert "not initialised" in raised.value.detail
        with pytest.raises(WorldServerError, match=r"HTTP 500.*does not exist in appsim"):
            client.initialize("nosuch_1")
        reply = requests.post(f"{lease.url}/evaluate", json={"task_id": "nosuch_1"}, timeout=10)
        assert reply.status_code == 500 and reply.headers["content-type"].startswith("text/plain")
        # AppWorld's shapes: GET /tasks answers any task on disk, GET / and /api_docs answer bare
        assert client.health(task_id) and not client.health("nosuch_1")
        assert "message" in requests.get(f"{lease.url}/", timeout=10).json()
        assert "supervisor" in requests.get(f"{lease.url}/api_docs", timeout=30).json()
        info = client.initialize(task_id, experiment_name=lease.experiment_name)
        assert requests.get(f"{lease.url}/tasks/{task_id}", timeout=10).json()["output"] == info
        client.close_all(task_id)
        with pytest.raises(WorldServerError, match="not initialised"):
            client.execute(task_id, "print(1)")


def test_suite_close_leaves_no_server_process(suite):
    """Runs last: closes the module's suite."""
    pids = [server.process.pid for server in suite.pool.servers]
    suite.close()
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    assert not any(group_members(pid) for pid in pids)
