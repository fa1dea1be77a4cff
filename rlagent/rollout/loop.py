"""The agent loop shared by evaluation and training.

Token-in/token-out: each episode keeps the prompt's ids and appends every turn's generated ids
exactly as sampled (mask 1, with their sampling logprobs); environment messages are tokenized as
the chat template's continuation and appended with mask 0. All live episodes of a batch generate
together each turn, and their environment steps run concurrently.

Faults outside the model's control end only their own episode, marked errored (`Episode.error`): an
environment step that raises, hangs past `rollout.env_step_timeout_s` or answers something that is not a
StepResult; engine output that breaks the engine's contract (no tokens, more than asked for, ids outside the
vocabulary, logprobs missing or not finite, text that is not valid UTF-8); a verifier that raises or whose
reward is not a finite number. The batch goes on; the trainer decides what errored episodes do to the loss.
"""

from __future__ import annotations

import contextlib
import logging
import math
import numbers
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any

from rlagent.config.schema import RecipeConfig
from rlagent.errors import UserError
from rlagent.rollout.chat import ChatFormat
from rlagent.rollout.engines.base import Generation, Sampling
from rlagent.rollout.episode import Episode, Turn
from rlagent.rollout.tool_messages import tool_replies
from rlagent.tasks.base import Environment, Example, Score, TaskSuite

log = logging.getLogger(__name__)


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
    env_step_timeout_s: float = 600.0
    """Seconds an environment step may take before its episode is errored (0: no limit)."""

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
            env_step_timeout_s=r.env_step_timeout_s,
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
        self._vocab: int | None = None

    def _chat_for(self, env: Environment) -> ChatFormat | None:
        if self.text_mode:
            return None
        key = id(env.tools) if env.tools is not None else 0
        if key not in self._chats:
            self._chats[key] = ChatFormat(self.tokenizer, env.tools, self.eos_ids)
        return self._chats[key]

    def run(
        self,
        items: Sequence[tuple[Example, int]],
        seed: int = 0,
        on_done: Callable[[Episode], None] | None = None,
        first_index: int = 0,
    ) -> list[Episode]:
        """Play one episode per (example, sample index); return them in input order. Each episode's sampling seed
        follows from `seed` and its index, `first_index` for the first item (a training process's share of a batch
        starts where it starts in the whole batch, so the episodes do not depend on how many processes share it)."""
        self.stats = LoopStats()
        size = self.settings.batch_size or len(items) or 1
        episodes: list[Episode] = []
        for start in range(0, len(items), size):
            episodes.extend(self._run_batch(items[start : start + size], seed, first_index + start, on_done))
        self.stats.episodes = len(episodes)
        self.stats.model_tokens = sum(e.model_tokens for e in episodes)
        return episodes

    def _start(self, example: Example, sample: int, index: int) -> _Live:
        """An episode ready for its first turn; an environment that cannot be built or reset errors only this
        episode (it is returned closed, with no turns)."""
        episode = Episode(example=example, sample=sample)
        try:
            env = self.suite.make_env(example)
        except UserError:
            raise
        except Exception as exc:
            return self._failed_start(episode, index, f"environment construction raised {_describe(exc)}")
        try:
            episode.messages = env.reset()
        except UserError:
            _close_quietly(env)
            raise
        except Exception as exc:
            _close_quietly(env)
            return self._failed_start(episode, index, f"environment reset() raised {_describe(exc)}")
        chat = self._chat_for(env)
        if chat is not None:
            episode.prompt_ids = chat.prompt_ids(episode.messages)
        return _Live(episode, env, chat, index)

    def _failed_start(self, episode: Episode, index: int, error: str) -> _Live:
        episode.fail(error)
        episode.finish_reason = "error"
        if not self.text_mode:  # no prompt to render: one placeholder token keeps the trainer's tensors non-empty
            episode.prompt_ids = [min(i for i in self.eos_ids if i is not None)]
        return _Live(episode, None, None, index, closed=True)  # type: ignore[arg-type]

    def _finish(self, live: _Live, reason: str, truncated: bool = False, hung: bool = False) -> None:
        ep = live.episode
        ep.done, ep.finish_reason, ep.truncated = reason == "done", reason, truncated
        live.closed = True
        if hung:  # its step never returned: state() and close() could block on the same thing, so neither waits
            ep.env_state = {"errored": True, "error": ep.error}
            threading.Thread(target=_close_quietly, args=(live.env,), name="rlagent-env-close", daemon=True).start()
            return
        try:
            ep.env_state = live.env.state()
        except UserError:
            raise
        except Exception as exc:
            ep.fail(f"environment state() raised {_describe(exc)}")
        _close_quietly(live.env)

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
        active = [lv for lv in lives if not lv.closed]
        if on_done:
            for lv in lives:
                if lv.closed:  # its environment failed to start
                    on_done(lv.episode)

        def end(lv: _Live, reason: str, **kwargs: bool) -> None:
            self._finish(lv, reason, **kwargs)
            if on_done:
                on_done(lv.episode)

        while active:
            ready, sampling = [], []
            for lv in active:
                budget = self._budget(lv.episode)
                if budget <= 0:
                    end(lv, "max_tokens", truncated=True)
                else:
                    ready.append(lv)
                    sampling.append(self._sampling(lv, budget, seed))
            if not ready:
                break
            started = time.perf_counter()
            generations = self._generate(ready, sampling)
            elapsed = time.perf_counter() - started
            self.stats.generation_s += elapsed
            stepping: list[tuple[_Live, Generation, str]] = []
            for lv, gen, params in zip(ready, generations, sampling, strict=True):
                fault = self._engine_fault(gen, params)
                if fault is not None:  # nothing of the turn is kept: its ids or text cannot be trusted
                    lv.episode.fail(f"engine output: {fault}")
                    end(lv, "error")
                    continue
                if not self.text_mode:
                    lv.episode.append_model(gen.token_ids, gen.logprobs)
                    text = self._turn_text(gen.token_ids)
                else:
                    text = gen.text
                    lv.episode.text_tokens += gen.num_tokens or 0
                lv.episode.messages.append(gen.message or {"role": "assistant", "content": text})
                stepping.append((lv, gen, text))
            started = time.perf_counter()
            results = self._step_all([(lv.env, text) for lv, _, text in stepping])
            self.stats.env_s += time.perf_counter() - started
            active = []
            for (lv, gen, text), result in zip(stepping, results, strict=True):
                if isinstance(result, _StepFault):
                    lv.episode.turns.append(Turn(text, None, finish_reason=gen.finish_reason))
                    lv.episode.fail(result.error)
                    end(lv, "error", hung=result.hung)
                elif self._advance(lv, gen, text, result):
                    active.append(lv)
                elif on_done:
                    on_done(lv.episode)
        return [lv.episode for lv in lives]

    def _step_all(self, steps: list[tuple[Environment, str]]) -> list[Any]:
        """Each environment's step on a daemon thread, at most `env_workers` at once; a step that raises or runs
        past `env_step_timeout_s` (counted from its start) gives a _StepFault. A hung step's thread is abandoned:
        being a daemon, it never keeps the process from exiting."""
        limit = self.settings.env_step_timeout_s
        gate = threading.Semaphore(max(1, self.settings.env_workers))
        jobs = [_StepJob(env, text, gate) for env, text in steps]
        results: list[Any] = [None] * len(jobs)
        pending = set(range(len(jobs)))
        while pending:
            now = time.monotonic()
            for i in sorted(pending):
                job = jobs[i]
                if job.future.done():
                    results[i] = job.outcome()
                    pending.discard(i)
                elif limit and job.started is not None and now - job.started > limit:
                    job.abandon()
                    results[i] = _StepFault(
                        f"environment step took longer than rollout.env_step_timeout_s={limit:g} s", hung=True
                    )
                    pending.discard(i)
            if pending:
                waits = [limit - (now - jobs[i].started) for i in pending if jobs[i].started is not None]
                timeout = max(0.01, min(waits)) if (limit and waits) else (1.0 if limit else None)
                wait([jobs[i].future for i in pending], timeout=timeout, return_when=FIRST_COMPLETED)
        return results

    def _engine_fault(self, gen: Generation, params: Sampling) -> str | None:
        """What is wrong with a generation that breaks the engine's contract, or None."""
        if self.text_mode:
            if not isinstance(gen.text, str):
                return f"text of type {type(gen.text).__name__}, not str"
            try:
                gen.text.encode("utf-8")
            except UnicodeEncodeError:
                return "text that is not valid UTF-8"
            return None
        ids, logprobs = gen.token_ids, gen.logprobs
        if not ids:
            return "no tokens"
        if len(ids) > params.max_tokens:
            return f"{len(ids)} tokens, more than the {params.max_tokens} asked for"
        if logprobs is None or len(logprobs) != len(ids):
            return f"{len(ids)} tokens but {0 if logprobs is None else len(logprobs)} logprobs"
        vocab = self._vocab_size()
        bad = next((t for t in ids if not isinstance(t, numbers.Integral) or not 0 <= t < vocab), None)
        if bad is not None:
            return f"token id {bad!r}, outside the vocabulary (0..{vocab - 1})"
        if not all(isinstance(x, numbers.Real) and math.isfinite(x) for x in logprobs):
            return "a logprob that is not a finite number"
        return None

    def _vocab_size(self) -> int:
        if self._vocab is None:
            size = len(self.tokenizer)
            engine = self.engine
            for get in (
                lambda: engine.vocab_size,
                lambda: engine.model.config.vocab_size,
                lambda: engine.llm.llm_engine.model_config.get_vocab_size(),
            ):
                with contextlib.suppress(Exception):
                    value = get()
                    if isinstance(value, int) and value > 0:
                        size = max(size, value)
                        break
            self._vocab = size
        return self._vocab

    def _turn_text(self, ids: list[int]) -> str:
        """The model's turn as text: every token decoded, except the EOS that ends it (the chat
        template writes that itself when the transcript is rendered)."""
        if ids and ids[-1] in self.eos_ids:
            ids = ids[:-1]
        return self.tokenizer.decode(ids)

    def _advance(self, lv: _Live, gen: Generation, text: str, result: Any) -> bool:
        """Record the turn and append the observation; False when the episode is over."""
        ep = lv.episode
        observation = getattr(result, "observation", None)
        if not hasattr(result, "done") or not (observation is None or isinstance(observation, str)):
            ep.turns.append(Turn(text, None, finish_reason=gen.finish_reason))
            shown = type(observation).__name__ if hasattr(result, "done") else type(result).__name__
            ep.fail(f"environment step returned {shown}, not a StepResult with a text observation")
            self._finish(lv, "error")
            return False
        ep.turns.append(Turn(text, result.observation, result.malformed, result.tool_calls, gen.finish_reason))
        # a last turn that the episode budget cut short (not only rollout.max_new_tokens) is a truncated episode too
        cut = gen.finish_reason == "length" and self._budget(ep) <= 0
        if result.done:
            self._finish(lv, "done", truncated=cut)
            return False
        if len(ep.turns) >= self.settings.max_turns:
            self._finish(lv, "max_turns", truncated=cut)
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
    """Fill reward, success and metrics of each episode with the suite's verifier.

    An errored episode (the loop's fault, the world's, or a verifier that raises or gives a reward that is not a
    finite number) gets reward 0 and no success; `metrics["errored"]` marks it, so evaluations and training steps
    report the share. A `UserError` (a plug-in's reward reported as a bug, task=custom) still stops the command.
    """
    for ep in episodes:
        try:
            score = suite.verifier.score(ep)
        except UserError:
            raise
        except Exception as exc:
            ep.fail(f"verifier raised {_describe(exc)}")
            score = Score(reward=0.0, success=False)
        reward = getattr(score, "reward", None)
        if not (isinstance(reward, numbers.Real) and math.isfinite(reward)):
            ep.fail(f"verifier returned reward {reward!r}, not a finite number")
        if ep.errored:
            # not the agent's doing: the record keeps the tokens, the model-token count drops them (the trainer
            # decides about the loss: trainer.errored_episodes)
            ep.mask = [0] * len(ep.mask)
            ep.reward, ep.success = 0.0, False
        else:
            ep.reward, ep.success = float(reward), bool(score.success)
        ep.metrics = {
            **{k: v for k, v in (getattr(score, "metrics", None) or {}).items() if _finite(v)},
            "turns": float(len(ep.turns)),
            "tool_calls": float(sum(t.tool_calls for t in ep.turns)),
            "malformed": float(sum(t.malformed for t in ep.turns)),
            "truncated": float(ep.truncated),
            "model_tokens": float(ep.model_tokens),
            "errored": float(ep.errored),
        }
        ep.scored = True


def _finite(value: Any) -> bool:
    return isinstance(value, numbers.Real) and math.isfinite(value)


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    return text if len(text) <= 300 else text[:300] + " ..."


def _close_quietly(env: Environment) -> None:
    try:
        env.close()
    except Exception as exc:  # the episode is over either way; a close that fails must not end the batch
        log.warning("closing an environment failed: %s", _describe(exc))


@dataclass
class _StepFault:
    """An environment step that raised, hung or answered nonsense: its episode errors."""

    error: str
    hung: bool = False


class _StepJob:
    """One environment step on a daemon thread, started once the gate (env_workers) lets it."""

    def __init__(self, env: Environment, text: str, gate: threading.Semaphore):
        self.env, self.text, self.gate = env, text, gate
        self.future: Future = Future()
        self.started: float | None = None
        self._lock = threading.Lock()
        self._holds_gate = False
        threading.Thread(target=self._run, name="rlagent-env-step", daemon=True).start()

    def _run(self) -> None:
        self.gate.acquire()
        with self._lock:
            self._holds_gate = True
            self.started = time.monotonic()
        if not self.future.set_running_or_notify_cancel():
            self._release()
            return
        try:
            self.future.set_result(self.env.step(self.text))
        except BaseException as exc:
            self.future.set_exception(exc)
        finally:
            self._release()

    def _release(self) -> None:
        with self._lock:
            if self._holds_gate:
                self._holds_gate = False
                self.gate.release()

    def abandon(self) -> None:
        """Given up on (hung): its worker slot goes to the next step."""
        self._release()

    def outcome(self) -> Any:
        exc = self.future.exception()
        if exc is None:
            return self.future.result()
        if isinstance(exc, UserError) or not isinstance(exc, Exception):  # a plug-in bug report, or a stop
            raise exc
        return _StepFault(f"environment step raised {_describe(exc)}")
