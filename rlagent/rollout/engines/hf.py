"""transformers `generate` engine: the fallback when vLLM is not available."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import torch

from rlagent.rollout.engines.base import Generation, Sampling

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(device: str = "auto") -> torch.device:
    """`auto`: this process's CUDA GPU (LOCAL_RANK under a launcher) when CUDA is available, else the CPU."""
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    return torch.device("cpu")


class HFEngine:
    """Batched `model.generate` with left padding; logprobs of the distribution actually sampled from."""

    name = "hf"

    def __init__(
        self,
        model_path: str | None = None,
        dtype: str = "float32",
        batch_size: int = 8,
        model: Any = None,
        tokenizer: Any = None,
        trust_remote_code: bool = False,
        device: str = "auto",
    ):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(model_path, trust_remote_code=trust_remote_code)
        self.model = model or AutoModelForCausalLM.from_pretrained(
            model_path, dtype=DTYPES[dtype], trust_remote_code=trust_remote_code
        )
        if model is None:
            self.model.to(resolve_device(device))
        self.model.eval()
        self.device = self.model.device
        self.batch_size = batch_size
        self.eos_ids = {self.tokenizer.eos_token_id} if self.tokenizer.eos_token_id is not None else set()
        gen_eos = getattr(self.model.generation_config, "eos_token_id", None)
        if gen_eos is not None:
            self.eos_ids.update(gen_eos if isinstance(gen_eos, list) else [gen_eos])
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else min(self.eos_ids)

    @torch.no_grad()
    def _generate_batch(self, prompts: list[list[int]], sampling: list[Sampling]) -> list[Generation]:
        first = sampling[0]
        width = max(len(p) for p in prompts)
        input_ids = torch.tensor([[self.pad_id] * (width - len(p)) + p for p in prompts], device=self.device)
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.device)
        do_sample = first.temperature > 0
        if first.seed is not None:
            torch.manual_seed(first.seed)
        kwargs: dict[str, Any] = {"do_sample": do_sample, "max_new_tokens": max(s.max_tokens for s in sampling)}
        if do_sample:
            kwargs.update(temperature=first.temperature, top_p=first.top_p, top_k=first.top_k or 0)
        if first.stop:
            kwargs.update(stop_strings=first.stop, tokenizer=self.tokenizer)
        out = self.model.generate(
            input_ids=input_ids,
            attention_mask=attention,
            output_scores=True,
            return_dict_in_generate=True,
            pad_token_id=self.pad_id,
            eos_token_id=sorted(self.eos_ids),
            **kwargs,
        )
        drawn = out.sequences[:, width:]
        # (batch, steps) logprobs of the tokens drawn, one step at a time: generate already holds every step's
        # (batch, vocab) scores, and a stacked copy (plus its log_softmax) would double that on the device
        logprobs = torch.stack(
            [step.float().log_softmax(-1).gather(-1, drawn[:, i, None])[:, 0] for i, step in enumerate(out.scores)],
            dim=1,
        ).cpu()
        new_tokens = drawn.cpu()
        results = []
        for row, s in enumerate(sampling):
            ids: list[int] = []
            finish = "length"
            for token in new_tokens[row].tolist()[: s.max_tokens]:
                ids.append(token)
                if token in self.eos_ids:
                    finish = "stop"
                    break
                if s.stop and any(stop in self.tokenizer.decode(ids) for stop in s.stop):
                    finish = "stop"
                    break
            lps = logprobs[row, : len(ids)].tolist()
            results.append(Generation(ids, lps, self.tokenizer.decode(ids, skip_special_tokens=True), finish))
        return results

    def generate(self, prompts: list[list[int]], sampling: list[Sampling]) -> list[Generation]:
        results: list[Generation] = []
        for start in range(0, len(prompts), self.batch_size):
            results.extend(
                self._generate_batch(
                    prompts[start : start + self.batch_size], sampling[start : start + self.batch_size]
                )
            )
        return results

    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> None:
        state = dict(weights)
        missing = set(state) - set(self.model.state_dict())
        if missing:
            raise KeyError(f"unknown weight names: {sorted(missing)[:3]}")
        self.model.load_state_dict(state, strict=False)

    def close(self) -> None:
        self.model = None
