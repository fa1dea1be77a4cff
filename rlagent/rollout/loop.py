"""The agent loop shared by evaluation and training.

Token-in/token-out: each episode keeps the prompt's ids and appends every turn's generated ids
exactly as sampled (mask 1, with their sampling logprobs); environment messages are tokenized as
the chat template's continuation and appended with mask 0. All live episodes of a batch generate
together each turn, and their environment steps run concurrently.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from rlagent.config.schema import RecipeConfig
from rlagent.rollout.chat import ChatFormat
from rlagent.rollout.engines.base import Generation, Sampling
from rlagent.rollout.episode import Episode, Turn
from rlagent.rollout.tool_messages import tool_replies
from rlagent.tasks.base import Environment, Example, TaskSuite


@dataclass
class LoopSettings:
    """Limits and sampling of the loop."""

    max_turns: int = 4
    max_new_tokens: int = 256
    max_episode_tokens: int = 1024
    max_model_len: int = 4096
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int | None = None
    env_workers: int = 8
    batch_size: int | None = None

    @classmethod
    def from_config(cls, cfg: RecipeConfig, temperature: float | None = None) -> LoopSettings:
        r = cfg.rollout
        return cls(
            max_turns=cfg.task.max_turns,
            max_new_tokens=r.max_new_tokens,
            max_episode_tokens=r.max_episode_tokens,
            max_model_len=r.vllm.max_model_len,
            temperature=r.temperature if temperature is None else temperature,
            top_p=r.top_p,
            top_k=r.top_k,
            env_workers=r.env_workers,
            batch_size=_batch_size(cfg),
        )


def _batch_size(cfg: RecipeConfig) -> int | None:
    """Episodes played at once: worlds served one task per process cap it at the pool's size (an episode holds
    its server from reset to close, so a larger batch would wait for a server forever)."""
    size = cfg.rollout.batch_size
    if cfg.task.suite in ("appsim", "appworld") and cfg.task.appworld.world != "inprocess":
        servers = cfg.task.appworld.num_servers
        size = servers if size is None else min(size, servers)
    return size


@dataclass
class LoopStats:
    """Wall-clock split of the last `run`."""

    generation_s: float = 0.0
    env_s: float = 0.0
    model_tokens: int = 0
    episodes: int = 0


@dataclass
class _Live:
    episode: Episode
    env: Environment
    chat: ChatFormat | None
    index: int
    closed: bool = False


class AgentLoop:
    """Run episodes of a task suite with a token engine (vllm, hf) or a text engine (openai)."""

    def __init__(self, engine: Any, suite: TaskSuite, settings: LoopSettings):
        self.engine, self.suite, self.settings = engine, suite, settings
        self.text_mode = not hasattr(engine, "generate")
        self.tokenizer = engine.tokenizer
        self._chats: dict[int, ChatFormat] = {}
        tokenizer_eos = getattr(self.tokenizer, "eos_token_id", None)
        self.eos_ids: set[int] = getattr(engine, "eos_ids", None) or {tokenizer_eos}
        self.stats = LoopStats()

    def _chat_for(self, env: Environment) -> ChatFormat | None:
        if self.text_mode:
            return None
        key = id(env.tools) if env.tools is not None else 0
        if key not in self._chats:
            self._chats[key] = ChatFormat(self.tokenizer, env.tools, self.eos_ids)
        return self._chats[key]

    def run(
        self, items: Sequence[tuple[Example, int]], seed: int = 0, on_done: Callable[[Episode], None] | None = None
    ) -> list[Episode]:
        """Play one episode per (example, sample index); return them in input order."""
        self.stats = LoopStats()
        size = self.settings.batch_size or len(items) or 1
        episodes: list[Episode] = []
        for start in range(0, len(items), size):
            episodes.extend(self._run_batch(items[start : start + size], seed, start, on_done))
        self.stats.episodes = len(episodes)
        self.stats.model_tokens = sum(e.model_tokens for e in episodes)
        return episodes

    def _start(self, example: Example, sample: int, index: int) -> _Live:
        env = self.suite.make_env(example)
        episode = Episode(example=example, sample=sample)
        episode.messages = env.reset()
        chat = self._chat_for(env)
        if chat is not None:
            episode.prompt_ids = chat.prompt_ids(episode.messages)
        return _Live(episode, env, chat, index)

    def _finish(self, live: _Live, reason: str, truncated: bool = False) -> None:
        ep = live.episode
        ep.done, ep.finish_reason, ep.truncated = reason == "done", reason, truncated
        ep.env_state = live.env.state()
        live.closed = True
        live.env.close()

    def _budget(self, ep: Episode) -> int:
        s = self.settings
        if self.text_mode:
            return s.max_new_tokens
        return min(
            s.max_episode_tokens - len(ep.completion_ids), s.max_model_len - len(ep.prompt_ids) - len(ep.completion_ids)
        )

    def _sampling(self, live: _Live, budget: int, seed: int) -> Sampling:
        s = self.settings
        turn = len(live.episode.turns)
        return Sampling(
            max_tokens=min(s.max_new_tokens, budget),
            temperature=s.temperature,
            top_p=s.top_p,
            top_k=s.top_k,
            stop=live.env.stop,
            seed=(seed * 1_000_003 + live.index * 101 + turn) % (2**31),
        )

    def _generate(self, batch: list[_Live], sampling: list[Sampling]) -> list[Generation]:
        if self.text_mode:
            return self.engine.chat([lv.episode.messages for lv in batch], sampling, tools=batch[0].env.tools)
        prompts = [lv.episode.prompt_ids + lv.episode.completion_ids for lv in batch]
        return self.engine.generate(prompts, sampling)

    def _run_batch(
        self, items: Sequence[tuple[Example, int]], seed: int, offset: int, on_done: Callable[[Episode], None] | None
    ) -> list[Episode]:
        lives: list[_Live] = []
        try:
            for i, (ex, sample) in enumerate(items):
                lives.append(self._start(ex, sample, offset + i))
            return self._play(lives, seed, on_done)
        except BaseException:  # an error or a stop signal mid-batch: no environment (sandbox, lease) stays open
            for lv in lives:
                if not lv.closed:
                    with contextlib.suppress(Exception):
                        lv.env.close()
            raise

    def _play(self, lives: list[_Live], seed: int, on_done: Callable[[Episode], None] | None) -> list[Episode]:
        active = list(lives)
        with ThreadPoolExecutor(max_workers=max(1, self.settings.env_workers)) as pool:
            while active:
                ready, sampling = [], []
                for lv in active:
                    budget = self._budget(lv.episode)
                    if budget <= 0:
                        self._finish(lv, "max_tokens", truncated=True)
                        if on_done:
                            on_done(lv.episode)
                    else:
                        ready.append(lv)
                        sampling.append(self._sampling(lv, budget, seed))
                if not ready:
                    break
                started = time.perf_counter()
                generations = self._generate(ready, sampling)
                elapsed = time.perf_counter() - started
                self.stats.generation_s += elapsed
                texts = []
                for lv, gen in zip(ready, generations, strict=True):
                    if not self.text_mode:
                        lv.episode.append_model(gen.token_ids, gen.logprobs)
                        text = self._turn_text(gen.token_ids)
                    else:
                        text = gen.text
                        lv.episode.text_tokens += gen.num_tokens or 0
                    lv.episode.messages.append(gen.message or {"role": "assistant", "content": text})
                    texts.append(text)
                started = time.perf_counter()
                results = list(pool.map(lambda pair: pair[0].env.step(pair[1]), zip(ready, texts, strict=True)))
                self.stats.env_s += time.perf_counter() - started
                active = []
                for lv, gen, text, result in zip(ready, generations, texts, results, strict=True):
                    if self._advance(lv, gen, text, result):
                        active.append(lv)
                    elif on_done:
                        on_done(lv.episode)
        return [lv.episode for lv in lives]

    def _turn_text(self, ids: list[int]) -> str:
        """The model's turn as text: every token decoded, except the EOS that ends it (the chat
        template writes that itself when the transcript is rendered)."""
        if ids and ids[-1] in self.eos_ids:
            ids = ids[:-1]
        return self.tokenizer.decode(ids)

    def _advance(self, lv: _Live, gen: Generation, text: str, result: Any) -> bool:
        """Record the turn and append the observation; False when the episode is over."""
        ep = lv.episode
        ep.turns.append(Turn(text, result.observation, result.malformed, result.tool_calls, gen.finish_reason))
        if result.done:
            self._finish(lv, "done")
            return False
        if len(ep.turns) >= self.settings.max_turns:
            self._finish(lv, "max_turns")
            return False
        message = {"role": lv.env.observation_role, "content": result.observation or ""}
        if lv.chat is not None:
            ids = lv.chat.continuation_ids([message], gen.token_ids)
            if self._budget(ep) - len(ids) <= 0:
                self._finish(lv, "max_tokens", truncated=True)
                return False
            ep.append_env(ids)
            ep.messages.append(message)
        else:  # sent back to a server: tool messages answer the assistant's calls by id
            ep.messages.extend(tool_replies(ep.messages[-1], message["content"], message["role"], result.tool_results))
        return True


def score_episodes(suite: TaskSuite, episodes: Sequence[Episode]) -> None:
    """Fill reward, success and metrics of each episode with the suite's verifier."""
    for ep in episodes:
        if ep.env_state.get("errored"):
            # the world failed, not the agent: the episode stays in the record but out of the loss
            ep.mask = [0] * len(ep.mask)
        score = suite.verifier.score(ep)
        ep.reward, ep.success = score.reward, score.success
        ep.metrics = {
            **score.metrics,
            "turns": float(len(ep.turns)),
            "tool_calls": float(sum(t.tool_calls for t in ep.turns)),
            "malformed": float(sum(t.malformed for t in ep.turns)),
            "truncated": float(ep.truncated),
            "model_tokens": float(ep.model_tokens),
        }
