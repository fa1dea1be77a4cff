"""Launcher layouts: the checks that refuse impossible ones, and the `accelerate launch` line each machine runs.

Every machine runs `accelerate launch` with the same flags but its own --machine_rank; accelerate starts
--num_processes / --num_machines processes there, each running `rlagent train` with the user's overrides and
`launcher=local` (the distribution comes from accelerate's environment, not from the recipe).

What runs today (issue 15): launcher=accelerate with strategy ddp on this machine's CPUs (`cpu_launch`: gloo, one
rollout engine per process); everything else is planned by `--dry-run` only.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass

from rlagent.config.schema import RecipeConfig
from rlagent.errors import NotBuiltError, UserError

PLANNED = "what each machine would run; on GPUs, running launcher=accelerate is not built yet (issue 15, SCALING.md)"
NOT_BUILT = (
    "running launcher=accelerate is built for CPU processes only (strategy ddp, one machine, rollout.engine=hf); "
    "{what} is not built yet (issue 15): `rlagent train ... --dry-run` prints each machine's command and the memory "
    "per GPU (docs/SCALING.md)"
)


def world_size() -> int:
    """Training processes of this run: WORLD_SIZE when accelerate or torchrun started this process, else 1."""
    value = os.environ.get("WORLD_SIZE", "1")
    return int(value) if value.isdigit() and int(value) > 0 else 1


def process_rank() -> int:
    """This process's rank among them (0: the main process, the only one writing the run directory)."""
    value = os.environ.get("RANK", "0")
    return int(value) if value.isdigit() else 0


def check_split(cfg: RecipeConfig, processes: int) -> None:
    """A step's episodes must split evenly into processes x micro-batches, and each process must hold whole GRPO
    groups (TRL hands every process a contiguous share of the generation batch; the group filters work per process)."""
    episodes = cfg.trainer.prompts_per_step * cfg.algorithm.num_generations
    if episodes % (processes * cfg.trainer.micro_batch_size):
        raise UserError(
            f"a step's {episodes} episodes (trainer.prompts_per_step x algorithm.num_generations) do not split into "
            f"{processes} processes x trainer.micro_batch_size={cfg.trainer.micro_batch_size}; change one of them"
        )
    if (episodes // processes) % cfg.algorithm.num_generations:
        raise UserError(
            f"a step's {episodes} episodes over {processes} processes give {episodes // processes} per process, not "
            f"whole groups of algorithm.num_generations={cfg.algorithm.num_generations}; make trainer.prompts_per_step "
            f"a multiple of {processes}"
        )
    from rlagent.config.steps import StepPlan

    StepPlan.from_config(cfg, processes)  # the minibatches split the batch and the processes too


def mixed_precision(cfg: RecipeConfig) -> str:
    """accelerate's --mixed_precision: the launcher's, or the trainer's when auto."""
    chosen = cfg.launcher.mixed_precision
    return ("bf16" if cfg.trainer.bf16 else "no") if chosen == "auto" else chosen


def check_launcher(cfg: RecipeConfig) -> None:
    """Refuse layouts that cannot exist, each with one line (compose calls this for every command)."""
    la = cfg.launcher
    for key, value, low in (
        ("num_processes", la.num_processes, 1),
        ("num_machines", la.num_machines, 1),
        ("machine_rank", la.machine_rank, 0),
        ("vllm_gpus", la.vllm_gpus, 0),
    ):
        if value < low:
            raise UserError(f"launcher.{key}={value} must be at least {low}")
    if la.machine_rank >= la.num_machines:
        raise UserError(
            f"launcher.machine_rank={la.machine_rank} must be below launcher.num_machines={la.num_machines} "
            f"(ranks run from 0 to {la.num_machines - 1})"
        )
    if not 1 <= la.main_process_port <= 65535:
        raise UserError(f"launcher.main_process_port={la.main_process_port} must be a port between 1 and 65535")
    if not la.gpu_memory_gib > 0:
        raise UserError(f"launcher.gpu_memory_gib={la.gpu_memory_gib} must be > 0")
    if la.kind == "local":
        extra = {
            "launcher.num_processes": (la.num_processes, 1),
            "launcher.num_machines": (la.num_machines, 1),
            "launcher.vllm_gpus": (la.vllm_gpus, 0),
            "launcher.strategy": (la.strategy, "ddp"),
        }
        for key, (value, single) in extra.items():
            if value != single:
                raise UserError(
                    f"{key}={value} needs launcher=accelerate (or a preset: ddp, fsdp2, zero2, zero3); "
                    "launcher=local runs one process"
                )
        return
    if la.num_machines > 1 and not la.main_process_ip:
        raise UserError(
            f"launcher.num_machines={la.num_machines} needs launcher.main_process_ip, the address of machine 0"
        )
    precision = mixed_precision(cfg)
    if (precision == "bf16") != cfg.trainer.bf16:
        raise UserError(
            f"launcher.mixed_precision={la.mixed_precision} disagrees with trainer.bf16={cfg.trainer.bf16}; "
            "set them alike (or leave launcher.mixed_precision=auto)"
        )
    check_split(cfg, la.num_processes * la.num_machines)
    tp = cfg.rollout.vllm.tensor_parallel_size
    if la.vllm_gpus:
        if cfg.rollout.engine != "vllm":
            raise UserError(f"launcher.vllm_gpus={la.vllm_gpus} needs rollout.engine=vllm, not {cfg.rollout.engine}")
        if la.vllm_gpus % tp:
            raise UserError(
                f"launcher.vllm_gpus={la.vllm_gpus} is not a multiple of rollout.vllm.tensor_parallel_size={tp}"
            )
    elif cfg.rollout.engine == "vllm" and la.num_processes % tp:
        raise UserError(
            f"colocated vLLM (launcher.vllm_gpus=0) spreads each engine over rollout.vllm.tensor_parallel_size={tp} "
            f"training GPUs, which must divide launcher.num_processes={la.num_processes}"
        )
    if cfg.trainer.warm_start.demos:
        raise UserError(
            "trainer.warm_start runs in one process (its own AdamW loop); use launcher=local, or warm-start first and "
            "pass the result as checkpoint=..."
        )


def check_runnable(cfg: RecipeConfig) -> None:
    """What a real (not dry) `rlagent train` refuses: the multi-process layouts that are planned, not built.

    Built: launcher=accelerate, strategy ddp, on one machine's CPUs (gloo), with the hf engine; and a process that
    accelerate or torchrun started (WORLD_SIZE > 1) on CPU under the same conditions."""
    la = cfg.launcher
    if la.kind == "accelerate":
        for planned, what in (
            (la.strategy != "ddp", f"launcher.strategy={la.strategy}"),
            (la.num_machines > 1, f"launcher.num_machines={la.num_machines}"),
            (la.vllm_gpus > 0, f"launcher.vllm_gpus={la.vllm_gpus}"),
        ):
            if planned:
                raise NotBuiltError(NOT_BUILT.format(what=what))
    world = world_size() if la.kind == "local" else la.num_processes
    if world == 1:
        return
    import torch

    if torch.cuda.is_available():
        raise NotBuiltError(NOT_BUILT.format(what=f"training {world} processes on GPUs"))
    if cfg.rollout.engine != "hf":
        raise NotBuiltError(NOT_BUILT.format(what=f"rollout.engine={cfg.rollout.engine} in {world} processes"))
    if cfg.trainer.async_rollouts:
        raise NotBuiltError(NOT_BUILT.format(what=f"trainer.async_rollouts in {world} processes"))
    check_split(cfg, world)
    if cfg.trainer.warm_start.demos:
        raise UserError(
            "trainer.warm_start runs in one process (its own AdamW loop); use launcher=local, or warm-start first and "
            "pass the result as checkpoint=..."
        )


def cpu_launch(cfg: RecipeConfig, overrides: list[str], run_dir: str) -> list[str]:
    """The command that starts launcher.num_processes training processes on this machine's CPUs.

    accelerate's --multi_gpu is its torch.distributed launcher (torchrun); on a machine without CUDA the trainer's
    arguments put every process on the CPU, so accelerate joins them with gloo. Each process runs `rlagent train`
    with the user's overrides, launcher=local, and the run directory this process planned (so all agree on it)."""
    la = cfg.launcher
    argv = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(la.num_processes)]
    argv += ["--num_machines", "1", "--machine_rank", "0", "--main_process_port", str(la.main_process_port)]
    argv += ["--mixed_precision", mixed_precision(cfg), "--dynamo_backend", "no"]
    inner = [o for o in inner_overrides(overrides) if o.split("=", 1)[0].lstrip("+~") != "run.dir"]
    return [*argv, "-m", "rlagent", "train", *inner, f"run.dir={run_dir}"]


def strategy_flags(cfg: RecipeConfig, layer_class: str | None) -> list[str]:
    """accelerate launch's flags for launcher.strategy."""
    la = cfg.launcher
    if la.strategy == "ddp":
        return ["--multi_gpu"] if la.num_processes * la.num_machines > 1 else []
    if la.strategy == "fsdp2":
        flags = ["--use_fsdp", "--fsdp_version", "2", "--fsdp_auto_wrap_policy", "TRANSFORMER_BASED_WRAP"]
        if layer_class:
            flags += ["--fsdp_transformer_layer_cls_to_wrap", layer_class]
        return [
            *flags,
            "--fsdp_reshard_after_forward",
            "true",
            "--fsdp_state_dict_type",
            "FULL_STATE_DICT",
            "--fsdp_cpu_ram_efficient_loading",
            "true",
            "--fsdp_offload_params",
            "false",
            # transformers refuses FSDP's activation checkpointing together with its own, which
            # model.gradient_checkpointing turns on
            "--fsdp_activation_checkpointing",
            "false",
        ]
    stage = {"zero2": "2", "zero3": "3"}[la.strategy]
    flags = ["--use_deepspeed", "--zero_stage", stage, "--offload_optimizer_device", "none"]
    flags += ["--offload_param_device", "none"]
    if stage == "3":
        flags += ["--zero3_init_flag", "true", "--zero3_save_16bit_model", "true"]
    return flags


def is_launcher_override(text: str) -> bool:
    key = text.split("=", 1)[0].lstrip("+~")
    return key == "launcher" or key.startswith("launcher.")


def inner_overrides(overrides: list[str]) -> list[str]:
    """The overrides each launched process gets: the user's, without launcher keys, then launcher=local."""
    return [o for o in overrides if not is_launcher_override(o)] + ["launcher=local"]


@dataclass(frozen=True)
class MachineCommand:
    rank: int
    argv: list[str]

    @property
    def line(self) -> str:
        return shlex.join(self.argv)


def accelerate_commands(cfg: RecipeConfig, overrides: list[str], layer_class: str | None) -> list[MachineCommand]:
    """The command every machine runs, by machine rank."""
    la = cfg.launcher
    commands = []
    for rank in range(la.num_machines):
        argv = ["accelerate", "launch", "--num_processes", str(la.num_processes * la.num_machines)]
        argv += ["--num_machines", str(la.num_machines), "--machine_rank", str(rank)]
        if la.main_process_ip:
            argv += ["--main_process_ip", la.main_process_ip]
        argv += ["--main_process_port", str(la.main_process_port), "--mixed_precision", mixed_precision(cfg)]
        argv += strategy_flags(cfg, layer_class)
        if la.vllm_gpus:  # the training processes take the first GPUs; vLLM the rest
            argv += ["--gpu_ids", ",".join(str(i) for i in range(la.num_processes))]
        argv += ["-m", "rlagent", "train", *inner_overrides(overrides)]
        commands.append(MachineCommand(rank, argv))
    return commands
