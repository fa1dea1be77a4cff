"""rollout.vllm_server's values checked alone, when a recipe is composed (stdlib only: no engine is imported)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from rlagent.errors import UserError

MANAGED_FLAGS = {
    "--model": "the policy's path",
    "--host": "127.0.0.1",
    "--port": "rollout.vllm_server.port",
    "--worker-extension-cls": "rlagent's weight receiver",
    "--logprobs-mode": "processed_logprobs",
    "--dtype": "model.dtype",
    "--seed": "seed",
    "--max-model-len": "rollout.vllm.max_model_len",
}
"""`vllm serve` flags rlagent sets itself for the server it starts, with where each value comes from."""


def check_server_settings(settings: Any) -> None:
    """One-line errors for rollout.vllm_server values that cannot work, whatever the machine."""
    prefix = "rollout.vllm_server"
    if settings.url is not None:
        parsed = urlparse(settings.url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise UserError(f"{prefix}.url={settings.url} is not an http(s)://HOST:PORT address")
        try:
            parsed.port  # noqa: B018 (raises on a bad port)
        except ValueError:
            raise UserError(f"{prefix}.url={settings.url} has a bad port") from None
        if settings.port or settings.extra_args:
            raise UserError(
                f"{prefix}.port and {prefix}.extra_args are for a server rlagent starts; with {prefix}.url set, "
                "start yours with the flags you need"
            )
    if not 0 <= settings.port <= 65535:
        raise UserError(f"{prefix}.port={settings.port} must be between 0 (a free port) and 65535")
    for key in ("startup_timeout_s", "request_timeout_s"):
        if not getattr(settings, key) > 0:
            raise UserError(f"{prefix}.{key}={getattr(settings, key)} must be > 0")
    if settings.max_concurrency < 1:
        raise UserError(f"{prefix}.max_concurrency={settings.max_concurrency} must be at least 1")
    for arg in settings.extra_args:
        flag = str(arg).split("=", 1)[0]
        if flag in MANAGED_FLAGS:
            raise UserError(f"{prefix}.extra_args sets {flag}, which rlagent sets itself (from {MANAGED_FLAGS[flag]})")
