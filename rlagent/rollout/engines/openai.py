"""OpenAI-compatible chat-completions engine (`vllm serve`, or a hosted model as a baseline).

Text in, text out: no token ids, so it serves evaluation only.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

from rlagent.config.schema import OpenAIConfig
from rlagent.errors import UserError
from rlagent.rollout.actions import close_open_tags
from rlagent.rollout.engines.base import Generation, Sampling
from rlagent.rollout.tool_messages import assistant_message, calls_in_text, tool_call

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


class OpenAIEngine:
    """Chat completions over HTTP with bounded concurrency."""

    name = "openai"

    def __init__(self, cfg: OpenAIConfig, model_name: str, tokenizer: Any = None):
        from openai import OpenAI

        key = os.environ.get(cfg.api_key_env)
        if not key:
            if urlparse(cfg.base_url).hostname not in LOCAL_HOSTS:
                raise UserError(f"rollout.engine=openai needs an API key in ${cfg.api_key_env} for {cfg.base_url}")
            key = "EMPTY"  # local servers (vllm serve) accept any key
        self.client = OpenAI(base_url=cfg.base_url, api_key=key, timeout=cfg.timeout_s, max_retries=2)
        self.model = cfg.model or model_name
        self.max_concurrency = cfg.max_concurrency
        self.tokenizer = tokenizer
        self._check_reachable(cfg.base_url)

    def _check_reachable(self, base_url: str) -> None:
        """Fail before the first episode, in one line, when the server is down or lacks the model."""
        import openai

        try:
            served = [m.id for m in self.client.with_options(max_retries=0, timeout=10.0).models.list()]
        except openai.APIConnectionError as exc:
            raise UserError(f"cannot reach the OpenAI-compatible server at {base_url} ({exc}); is it up?") from None
        except openai.APIStatusError as exc:
            raise UserError(f"the server at {base_url} refused to list its models: HTTP {exc.status_code}") from None
        if served and self.model not in served:
            raise UserError(
                f"the server at {base_url} does not serve model '{self.model}'; it serves: {', '.join(served)} "
                "(set rollout.openai.model)"
            )

    def _one(self, messages: list[dict[str, Any]], s: Sampling, tools: list[dict] | None) -> Generation:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": s.max_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
        }
        if s.stop:
            kwargs["stop"] = s.stop
        if s.seed is not None:
            kwargs["seed"] = s.seed
        if tools:
            kwargs["tools"] = tools
        response = self.client.chat.completions.create(**kwargs)
        choice = response.choices[0]
        content = choice.message.content or ""
        calls = [tool_call(c.function.name, c.function.arguments, c.id) for c in choice.message.tool_calls or []]
        if tools and not calls:  # a server without a tool parser leaves the calls in the text
            content, calls = calls_in_text(content)
        # The environment reads the calls as text; the transcript sent back keeps them structured, with ids.
        text = content
        for call in calls:
            fn = call["function"]
            text += f'<tool_call>{{"name": "{fn["name"]}", "arguments": {fn["arguments"] or "{}"}}}</tool_call>'
        message = assistant_message(content, calls)
        if choice.finish_reason == "stop" and s.stop:
            matched = (choice.model_extra or {}).get("stop_reason")
            if isinstance(matched, str) and matched in s.stop:
                text += matched
            else:
                text = close_open_tags(text, s.stop)
        tokens = response.usage.completion_tokens if response.usage else None
        if not calls:
            message["content"] = text
        finish = "length" if choice.finish_reason == "length" else "stop"
        return Generation([], [], text, finish, tokens, message=message)

    def chat(
        self, conversations: list[list[dict[str, Any]]], sampling: list[Sampling], tools: list[dict] | None = None
    ) -> list[Generation]:
        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            pairs = zip(conversations, sampling, strict=True)
            return list(pool.map(lambda pair: self._one(pair[0], pair[1], tools), pairs))

    def close(self) -> None:
        self.client.close()
