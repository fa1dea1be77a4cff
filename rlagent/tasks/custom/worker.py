"""Where the user's code runs: one thread per environment instance, one event loop for async methods.

TRL calls an environment's constructor, `reset`, sync tools and `get_reward` from one thread, so objects
tied to their thread (a `sqlite3` connection made in `reset`) work there. The agent loop steps episodes
from a thread pool, so each episode gets its own daemon thread and every call into its environment goes
through it, in order. Async methods run on one shared event loop in a daemon thread, as in TRL, where
`asyncio.wait_for` can cancel them at their timeout; a sync call past its timeout cannot be stopped, so
its thread is abandoned (a daemon thread never blocks the process from exiting).
"""

from __future__ import annotations

import asyncio
import inspect
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any


class CallTimeout(Exception):
    """A call into the environment took longer than its limit."""


_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def event_loop() -> asyncio.AbstractEventLoop:
    """The shared event loop of async environment methods (started on first use)."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="rlagent-custom-async", daemon=True).start()
        return _loop


def run_awaitable(awaitable: Any, timeout: float) -> Any:
    """Run a coroutine on the shared loop; cancelled and CallTimeout after `timeout` seconds."""

    async def guarded() -> Any:
        return await asyncio.wait_for(awaitable, timeout)

    future = asyncio.run_coroutine_threadsafe(guarded(), event_loop())
    try:
        return future.result(timeout + 5.0)
    except (asyncio.TimeoutError, FutureTimeout, TimeoutError):
        future.cancel()
        raise CallTimeout(f"took longer than {timeout:g} s") from None


class EpisodeThread:
    """A daemon thread that runs one environment's calls in order."""

    def __init__(self, name: str = "rlagent-episode"):
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future] | None] = queue.SimpleQueue()
        self.stuck = False
        threading.Thread(target=self._work, name=name, daemon=True).start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)` on this thread (awaited on the shared loop if it returns an awaitable)."""
        if self.stuck:
            raise CallTimeout("an earlier call never returned")
        future: Future = Future()
        self._jobs.put((lambda: fn(*args, **kwargs), future))
        try:
            result = future.result(timeout)
        except (FutureTimeout, TimeoutError):
            self.stuck = True
            raise CallTimeout(f"took longer than {timeout:g} s") from None
        if inspect.isawaitable(result):
            return run_awaitable(result, timeout)
        return result

    def close(self) -> None:
        self._jobs.put(None)
