"""The launch part of `rlagent train --dry-run`: each machine's command and the memory per GPU; also as markdown
for docs/SCALING.md (scripts/scaling_plan.py)."""

from __future__ import annotations

import sys

from rich.table import Table
from rich.text import Text

from rlagent.config.schema import RecipeConfig
from rlagent.launch.architecture import Architecture, UnknownArchitecture, find_architecture
from rlagent.launch.commands import PLANNED, MachineCommand, accelerate_commands
from rlagent.launch.memory import MemoryPlan, count, gib, plan_memory
from rlagent.ui import out_console


def architecture_of(cfg: RecipeConfig) -> tuple[Architecture | None, str]:
    """The policy's architecture, or None and why not."""
    try:
        return find_architecture(cfg.model.name_or_path, cfg.model.revision), ""
    except UnknownArchitecture as exc:
        return None, str(exc)


def layout_text(cfg: RecipeConfig) -> str:
    la = cfg.launcher
    if la.kind == "local":
        return "launcher=local: one process on this machine"
    machines = f"{la.num_machines} machine{'s' if la.num_machines > 1 else ''}"
    vllm = (
        f" + {la.vllm_gpus} vLLM GPUs (engines of tensor_parallel_size {cfg.rollout.vllm.tensor_parallel_size})"
        if la.vllm_gpus
        else " (vLLM colocated)"
        if cfg.rollout.engine == "vllm"
        else ""
    )
    return (
        f"launcher=accelerate, strategy {la.strategy}: {machines} × ({la.num_processes} training GPUs{vllm}); "
        f"{la.num_processes * la.num_machines} training processes"
    )


def commands_for(cfg: RecipeConfig, overrides: list[str], arch: Architecture | None) -> list[MachineCommand]:
    return accelerate_commands(cfg, overrides, arch.layer_class if arch else None)


def _machine_label(cfg: RecipeConfig, rank: int) -> str:
    main = " (main: main_process_ip)" if rank == 0 and cfg.launcher.num_machines > 1 else ""
    here = " <- launcher.machine_rank" if rank == cfg.launcher.machine_rank and cfg.launcher.num_machines > 1 else ""
    return f"# machine {rank}{main}{here}"


def print_launch(cfg: RecipeConfig, overrides: list[str]) -> None:
    """Print the layout, each machine's command (launcher=accelerate) and the memory estimate."""
    arch, why = architecture_of(cfg)
    out_console.print(layout_text(cfg), highlight=False, soft_wrap=True)
    if cfg.launcher.kind == "accelerate":
        sys.stdout.write(f"# {PLANNED}\n")
        for command in commands_for(cfg, overrides, arch):
            sys.stdout.write(f"{_machine_label(cfg, command.rank)}\n{command.line}\n")
        sys.stdout.flush()
    if arch is None:
        out_console.print(f"memory estimate: not available: {why}", highlight=False, soft_wrap=True)
        return
    print_memory(plan_memory(cfg, arch))


def print_memory(plan: MemoryPlan) -> None:
    a = plan.arch
    out_console.print(
        f"architecture: {count(plan.parameters)} parameters ({a.layers} layers, hidden {a.hidden}, {a.heads} heads / "
        f"{a.kv_heads} KV heads × {a.head_dim}, intermediate {a.intermediate}, vocab {a.vocab:,}, "
        f"{'tied' if a.tied_embeddings else 'untied'} embeddings) from {a.source}; trainable {count(plan.trainable)}",
        highlight=False,
        soft_wrap=True,
    )
    for device in plan.devices:
        table = Table(title=f"memory per {device.role} ({device.per_machine} per machine)")
        table.add_column("component", style="bold")
        table.add_column("GiB", justify="right")
        table.add_column("arithmetic", overflow="fold")
        for item in device.items:
            table.add_row(item.name, gib(item.bytes), Text(item.how))
        table.add_row("total", gib(device.total), Text(plan.verdict(device)), style="bold")
        out_console.print(table)
    for note in plan.notes:
        out_console.print(f"note: {note}", highlight=False, soft_wrap=True)


def markdown(cfg: RecipeConfig, overrides: list[str]) -> str:
    """The same as print_launch, as markdown."""
    arch, why = architecture_of(cfg)
    lines = [layout_text(cfg), ""]
    if cfg.launcher.kind == "accelerate":
        lines += ["```bash", f"# {PLANNED}"]
        for command in commands_for(cfg, overrides, arch):
            lines += [_machine_label(cfg, command.rank), command.line]
        lines += ["```", ""]
    if arch is None:
        return "\n".join([*lines, f"memory estimate: not available: {why}", ""])
    plan = plan_memory(cfg, arch)
    for device in plan.devices:
        lines += [
            f"| {device.role} ({device.per_machine} per machine) | GiB | arithmetic |",
            "|---|---:|---|",
        ]
        lines += [f"| {item.name} | {gib(item.bytes)} | {item.how} |" for item in device.items]
        lines += [f"| **total** | **{gib(device.total)}** | {plan.verdict(device)} |", ""]
    lines += [f"- {note}" for note in plan.notes]
    return "\n".join([*lines, ""])
