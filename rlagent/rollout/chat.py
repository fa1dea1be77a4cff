"""Chat-template arithmetic for token-in/token-out loops.

Model tokens are never decoded and re-encoded. Only environment text is tokenized: as the chat
template's continuation after the model's turn, computed from the template itself so that any
ChatML-like template (Qwen, SmolLM, Llama 3) works.
"""

from __future__ import annotations

from typing import Any

_PROBE_USER = "<<rlagent-user>>"
_PROBE_ASSISTANT = "<<rlagent-assistant>>"


class ChatFormat:
    """Prompt ids of a conversation and the ids that append environment messages after a model turn."""

    def __init__(self, tokenizer: Any, tools: list[dict] | None = None, eos_ids: set[int] | None = None):
        self.tokenizer = tokenizer
        self.tools = tools
        base = self._render(
            [{"role": "user", "content": _PROBE_USER}, {"role": "assistant", "content": _PROBE_ASSISTANT}],
            add_generation_prompt=False,
        )
        self._base = base
        self.turn_suffix = base[base.rindex(_PROBE_ASSISTANT) + len(_PROBE_ASSISTANT) :]
        self.eos_ids = eos_ids if eos_ids is not None else {tokenizer.eos_token_id}

    def _render(self, messages: list[dict[str, Any]], add_generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(
            messages, tools=self.tools, tokenize=False, add_generation_prompt=add_generation_prompt
        )

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def prompt_ids(self, messages: list[dict[str, Any]]) -> list[int]:
        """The conversation so far, ending with the generation prompt of the assistant."""
        return self.encode(self._render(messages, add_generation_prompt=True))

    def continuation_text(self, new_messages: list[dict[str, Any]], turn_ids: list[int]) -> str:
        """Text that closes the model's turn (ending in `turn_ids`) and appends `new_messages`."""
        probe = [{"role": "user", "content": _PROBE_USER}, {"role": "assistant", "content": _PROBE_ASSISTANT}]
        full = self._render(probe + new_messages, add_generation_prompt=True)
        if not full.startswith(self._base):
            raise ValueError(
                "the chat template rewrites earlier turns when a message is added, so environment tokens "
                "cannot be appended; set model.chat_template to a template that only appends"
            )
        return self.turn_closing(turn_ids) + full[len(self._base) :]

    def turn_closing(self, turn_ids: list[int]) -> str:
        """What the template writes after the model's turn, minus the EOS the model already emitted."""
        suffix = self.turn_suffix
        if turn_ids and turn_ids[-1] in self.eos_ids:
            eos_text = self.tokenizer.decode([turn_ids[-1]])
            # The model ended with the template's own end-of-turn token, or with another EOS (Qwen's
            # <|endoftext|>): either way the template's end-of-turn text follows what was sampled.
            if suffix.startswith(eos_text):
                suffix = suffix[len(eos_text) :]
        return suffix

    def continuation_ids(self, new_messages: list[dict[str, Any]], turn_ids: list[int]) -> list[int]:
        return self.encode(self.continuation_text(new_messages, turn_ids))
