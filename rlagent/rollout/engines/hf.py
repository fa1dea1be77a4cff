"""transformers `generate` engine: the fallback when vLLM is not available.

It samples exactly what the trainer scores: softmax(logits / temperature), truncated only by the request's own
top_p / top_k. The model's generation_config.json (a Hub Qwen's temperature, top_k, top_p, repetition_penalty;
any other logits processor it would switch on) never reaches `generate`, and a model that replaces `generate`
itself is refused."""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Iterable
from typing import Any

import torch

from rlagent.errors import UserError
from rlagent.rollout.engines.base import Generation, Sampling

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
TOKEN_FIELDS = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id")
"""What the engine keeps of the model's generation_config: token ids, no sampling setting."""

log = logging.getLogger(__name__)


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
            refuse_custom_generate(self.model, model_path)
            self.model.to(resolve_device(device))
        self.model.eval()
        self.device = self.model.device
        self.batch_size = batch_size
        self.eos_ids = {self.tokenizer.eos_token_id} if self.tokenizer.eos_token_id is not None else set()
        gen_eos = getattr(self.model.generation_config, "eos_token_id", None)
        if gen_eos is not None:
            self.eos_ids.update(gen_eos if isinstance(gen_eos, list) else [gen_eos])
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else min(self.eos_ids)
        self.model.generation_config = plain_generation_config(self.model.generation_config, self.eos_ids, self.pad_id)

    def _generation_config(self, first: Sampling, max_new_tokens: int) -> Any:
        """Every setting of this call, explicit: `generate` fills what is unset from the model's generation_config
        (only token ids here, see plain_generation_config) and then transformers' defaults (top_k=50)."""
        do_sample = first.temperature > 0
        config = copy.deepcopy(self.model.generation_config)
        config.update(
            do_sample=do_sample,
            max_new_tokens=max_new_tokens,
            output_scores=True,
            return_dict_in_generate=True,
            stop_strings=first.stop or None,
        )
        if do_sample:
            config.update(temperature=first.temperature, top_p=first.top_p, top_k=first.top_k or 0)
        else:  # greedy: the argmax of the logits; sampling settings would only draw warnings
            config.update(temperature=None, top_p=None, top_k=None)
        return config

    @torch.no_grad()
    def _generate_batch(self, prompts: list[list[int]], sampling: list[Sampling]) -> list[Generation]:
        first = sampling[0]
        width = max(len(p) for p in prompts)
        input_ids = torch.tensor([[self.pad_id] * (width - len(p)) + p for p in prompts], device=self.device)
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.device)
        if first.seed is not None:
            torch.manual_seed(first.seed)
        out = self.model.generate(
            input_ids=input_ids,
            attention_mask=attention,
            generation_config=self._generation_config(first, max(s.max_tokens for s in sampling)),
            tokenizer=self.tokenizer if first.stop else None,
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
        """Batches of at most batch_size requests that share temperature, top_p, top_k and stop strings (one
        `generate` call samples a whole batch with one setting); the results in the order of `prompts`."""
        groups: dict[tuple, list[int]] = {}
        for i, s in enumerate(sampling):
            groups.setdefault((s.temperature, s.top_p, s.top_k or 0, tuple(s.stop or ())), []).append(i)
        results: list[Generation | None] = [None] * len(prompts)
        for indices in groups.values():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                generated = self._generate_batch([prompts[i] for i in chunk], [sampling[i] for i in chunk])
                for i, generation in zip(chunk, generated, strict=True):
                    results[i] = generation
        return results  # type: ignore[return-value]

    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> None:
        state = dict(weights)
        missing = set(state) - set(self.model.state_dict())
        if missing:
            raise KeyError(f"unknown weight names: {sorted(missing)[:3]}")
        self.model.load_state_dict(state, strict=False)

    def close(self) -> None:
        self.model = None


def plain_generation_config(original: Any, eos_ids: set[int], pad_id: int) -> Any:
    """A GenerationConfig with the model's token ids and nothing else.

    `generate` fills every setting a call leaves unset from `model.generation_config`, so its sampling defaults
    (generation_config.json: temperature, top_k, top_p, min_p, repetition_penalty, no_repeat_ngram_size,
    suppress_tokens, min_new_tokens, ...) would change the distribution sampled from, and the logprobs reported,
    away from the plain softmax(logits / temperature) the trainer scores; replacing it drops them all, including
    settings a later transformers adds."""
    from transformers import GenerationConfig

    kept = {field: getattr(original, field, None) for field in TOKEN_FIELDS}
    kept.update(eos_token_id=sorted(eos_ids), pad_token_id=pad_id)
    plain = GenerationConfig(**{k: v for k, v in kept.items() if v is not None})
    ignored = (*TOKEN_FIELDS, "transformers_version")
    dropped = {k: v for k, v in original.to_diff_dict().items() if k not in ignored}
    if dropped:
        log.info("hf engine: the model's generation_config settings %s are not used (plain sampling)", dropped)
    return plain


def refuse_custom_generate(model: Any, model_path: str | None) -> None:
    """A model whose `generate` is its own (a repository's custom_generate/generate.py under trust_remote_code, or a
    remote-code class overriding it) samples by rules the engine cannot check: a UserError."""
    from transformers.generation.utils import GenerationMixin

    own = "generate" in vars(model)
    method = type(model).generate
    overridden = method is not GenerationMixin.generate and not method.__module__.startswith("transformers.")
    if own or overridden:
        where = model_path or type(model).__name__
        raise UserError(
            f"model {where} brings its own generate (custom_generate/generate.py or remote code), so rollout.engine=hf "
            "cannot guarantee plain temperature sampling; use rollout.engine=vllm or a model without it"
        )
