"""Launchers: `rlagent train ... --dry-run` prints each machine's `accelerate launch` command and the memory per
GPU; impossible layouts stop with one line; the memory arithmetic against hand-computed numbers and real models."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from rlagent.config.compose import compose_recipe
from rlagent.errors import UserError
from rlagent.launch.architecture import PUBLISHED, find_architecture, read_config
from rlagent.launch.commands import accelerate_commands, inner_overrides
from rlagent.launch.memory import plan_memory
from rlagent.launch.throughput import update_flops_per_token

# A recipe that dry-runs anywhere (embedded data, tiny model), with overrides the inner command must carry:
# one with a space (shell quoting) and a batch that splits over 8 and 16 processes (64 episodes, 1 per micro-batch).
RECIPE = ["recipe=smoke_search", "trainer.prompts_per_step=16", "trainer.micro_batch_size=1", "task.max_turns=2"]
QUOTED = "task.system_prompt=Answer briefly."
SMOL_PARAMETERS = 134_515_008  # SmolLM2-135M-Instruct: sum(p.numel()), the tied head counted once


def rlagent(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rlagent", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def launch_lines(stdout: str) -> list[list[str]]:
    return [shlex.split(line) for line in stdout.splitlines() if line.startswith("accelerate launch ")]


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def inner(argv: list[str]) -> list[str]:
    """What each launched process runs: the arguments after `-m rlagent`."""
    start = argv.index("-m")
    assert argv[start + 1] == "rlagent"
    return argv[start + 2 :]


def test_dry_run_one_machine_eight_gpus(tmp_path: Path) -> None:
    result = rlagent("train", *RECIPE, QUOTED, "launcher=fsdp2", f"run.root={tmp_path}", "--dry-run")
    assert result.returncode == 0, result.stderr
    (argv,) = launch_lines(result.stdout)
    assert (flag(argv, "--num_processes"), flag(argv, "--num_machines"), flag(argv, "--machine_rank")) == (
        "8",
        "1",
        "0",
    )
    assert flag(argv, "--main_process_port") == "29500" and "--main_process_ip" not in argv
    assert flag(argv, "--mixed_precision") == "no"  # smoke recipes train in fp32 (trainer.bf16=false)
    assert "--use_fsdp" in argv and flag(argv, "--fsdp_version") == "2"
    assert flag(argv, "--fsdp_transformer_layer_cls_to_wrap") == "LlamaDecoderLayer"  # from the tiny model's config
    assert inner(argv) == ["train", *RECIPE, QUOTED, f"run.root={tmp_path}", "launcher=local"]
    assert "memory per training GPU + colocated vLLM (8 per machine)" in result.stdout
    assert "launcher=accelerate, strategy fsdp2: 1 machine × (8 training GPUs (vLLM colocated))" in result.stdout
    assert not any(tmp_path.iterdir()), "a dry run creates no run directory"


def test_dry_run_two_machines_eight_gpus_each(tmp_path: Path) -> None:
    layout = [
        "launcher=zero3",
        "launcher.num_machines=2",
        "launcher.main_process_ip=10.0.0.1",
        "launcher.machine_rank=1",
    ]
    result = rlagent("train", *RECIPE, *layout, "launcher.main_process_port=6000", f"run.root={tmp_path}", "--dry-run")
    assert result.returncode == 0, result.stderr
    lines = launch_lines(result.stdout)
    assert [flag(argv, "--machine_rank") for argv in lines] == ["0", "1"]
    for argv in lines:
        assert flag(argv, "--num_processes") == "16"  # accelerate takes the total over the machines
        assert flag(argv, "--num_machines") == "2"
        assert flag(argv, "--main_process_ip") == "10.0.0.1" and flag(argv, "--main_process_port") == "6000"
        assert "--use_deepspeed" in argv and flag(argv, "--zero_stage") == "3"
        assert flag(argv, "--zero3_init_flag") == "true" and flag(argv, "--zero3_save_16bit_model") == "true"
        assert inner(argv) == ["train", *RECIPE, f"run.root={tmp_path}", "launcher=local"]
    assert lines[0][: -len(inner(lines[0]))] != lines[1][: -len(inner(lines[1]))]
    assert "# machine 1 <- launcher.machine_rank" in result.stdout
    assert "16 training processes" in result.stdout and not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        (["launcher=ddp"], {"multi_gpu": True}),
        (["launcher=ddp", "launcher.num_processes=1"], {"multi_gpu": False}),
        (["launcher=zero2"], {"use_deepspeed": True, "zero_stage": 2, "offload_optimizer_device": "none"}),
        (["launcher=zero3"], {"use_deepspeed": True, "zero_stage": 3}),
        (["launcher=fsdp2", "trainer.bf16=true"], {"use_fsdp": True, "fsdp_version": "2", "mixed_precision": "bf16"}),
        (
            ["launcher=fsdp2", "launcher.num_processes=4", "launcher.vllm_gpus=4"],
            {"gpu_ids": "0,1,2,3", "num_processes": 4},
        ),
    ],
)
def test_commands_parse_with_accelerates_own_parser(layout: list[str], expected: dict) -> None:
    """Every flag exists in the installed accelerate and means what the layout says."""
    from accelerate.commands.launch import launch_command_parser

    overrides = [*RECIPE, *layout]
    cfg, _ = compose_recipe(overrides)
    (command,) = accelerate_commands(cfg, overrides, "LlamaDecoderLayer")
    assert command.argv[:2] == ["accelerate", "launch"]
    args = launch_command_parser().parse_args(command.argv[2:])
    for key, value in expected.items():
        assert getattr(args, key) == value, key
    assert args.module and args.training_script == "rlagent"
    assert args.training_script_args == ["train", *inner_overrides(overrides)]


def test_inner_overrides_drop_every_launcher_key() -> None:
    given = ["recipe=x", "launcher=zero3", "launcher.num_processes=4", "+launcher.vllm_gpus=2", "model.lora.r=8"]
    assert inner_overrides(given) == ["recipe=x", "model.lora.r=8", "launcher=local"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["launcher=accelerate", "launcher.num_machines=2", "launcher.main_process_ip=h", "launcher.machine_rank=2"],
            "launcher.machine_rank=2 must be below launcher.num_machines=2",
        ),
        (["launcher=ddp", "launcher.num_machines=2"], "launcher.num_machines=2 needs launcher.main_process_ip"),
        (["launcher.num_processes=4"], "launcher.num_processes=4 needs launcher=accelerate"),
        (["launcher=zero3", "trainer.prompts_per_step=3"], "do not split into 8 processes"),
        (["launcher=ddp", "launcher.mixed_precision=bf16"], "disagrees with trainer.bf16=False"),
        (
            ["launcher=ddp", "launcher.vllm_gpus=3", "rollout.vllm.tensor_parallel_size=2", "launcher.num_processes=4"],
            "launcher.vllm_gpus=3 is not a multiple of rollout.vllm.tensor_parallel_size=2",
        ),
        (["launcher=fsdp2", "trainer.warm_start.demos=8"], "trainer.warm_start runs in one process"),
        (["launcher=zero4"], "launcher=zero4 is not a known launcher"),
    ],
)
def test_bad_layouts_exit_2_with_one_line_and_no_run_directory(tmp_path: Path, args: list[str], message: str) -> None:
    result = rlagent("train", *RECIPE, *args, f"run.root={tmp_path}", "--dry-run")
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["launcher=fsdp2"], {}, "launcher.strategy=fsdp2 is not built yet"),
        (["launcher=ddp", "launcher.num_machines=2", "launcher.main_process_ip=h"], {}, "num_machines=2 is not built"),
        (["launcher=ddp", "launcher.vllm_gpus=2"], {}, "launcher.vllm_gpus=2 is not built yet"),
        (["launcher=ddp", "launcher.num_processes=2"], {}, "rollout.engine=vllm in 2 processes is not built yet"),
        ([], {"WORLD_SIZE": "2"}, "rollout.engine=vllm in 2 processes is not built yet"),
        (["rollout=hf"], {"WORLD_SIZE": "3"}, "do not split into 3 processes"),
        (["rollout=hf", "trainer.async_rollouts=true"], {"WORLD_SIZE": "2"}, "async_rollouts in 2 processes is not"),
        (
            [
                "rollout=hf",
                "launcher=ddp",
                "launcher.num_processes=2",
                "trainer.prompts_per_step=1",
                "trainer.micro_batch_size=2",
            ],
            {},
            "give 2 per process, not whole groups of algorithm.num_generations=4",
        ),
    ],
)
def test_multi_process_runs_are_refused_before_a_run_directory(tmp_path, args, env, message) -> None:
    """What runs on CPU is launcher=accelerate with strategy ddp, one machine and the hf engine
    (tests/test_train_distributed.py); anything else stops in one line, exit 2, before a run directory exists."""
    result = rlagent("train", *RECIPE, *args, f"run.root={tmp_path}", env=env)
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_dry_run_imports_no_torch_or_vllm(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom rlagent.train.run import train_command\n"
        f"train_command({[*RECIPE, 'launcher=fsdp2', f'run.root={tmp_path}']!r}, dry_run=True)\n"
        "print('LOADED', sorted(m for m in ('torch', 'vllm', 'transformers', 'accelerate') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout


def test_parameter_count_of_smollm2_equals_the_real_models(smollm2_path: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    arch = read_config(Path(smollm2_path) / "config.json")
    model = AutoModelForCausalLM.from_pretrained(smollm2_path, dtype=torch.float32)
    assert arch.parameters() == sum(p.numel() for p in model.parameters()) == SMOL_PARAMETERS
    embedded = replace(PUBLISHED["HuggingFaceTB/SmolLM2-135M-Instruct"], source=arch.source)
    assert arch == embedded, "the embedded SmolLM2 config matches the local one"


def test_lora_parameter_count_equals_peft(tiny_path: str) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = AutoModelForCausalLM.from_pretrained(tiny_path, dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=targets))
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    assert read_config(Path(tiny_path) / "config.json").lora_parameters(8, targets) == (trainable, [])


# Published parameter counts (transformers' count of each Hub config; Qwen's model cards round them).
PUBLISHED_COUNTS = {
    "Qwen/Qwen2.5-32B-Instruct": 32_763_876_352,
    "Qwen/Qwen2.5-7B-Instruct": 7_615_616_512,
    "Qwen/Qwen2.5-3B-Instruct": 3_085_938_688,
    "Qwen/Qwen2.5-Coder-1.5B-Instruct": 1_543_714_304,
    "Qwen/Qwen2.5-Coder-0.5B-Instruct": 494_032_768,
    "HuggingFaceTB/SmolLM2-135M-Instruct": SMOL_PARAMETERS,
}


@pytest.mark.parametrize("hub_id", sorted(PUBLISHED))
def test_embedded_configs_count_as_transformers_does(hub_id: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    arch = PUBLISHED[hub_id]
    config_class = Qwen2Config if arch.qkv_bias else LlamaConfig
    config = config_class(
        hidden_size=arch.hidden,
        num_hidden_layers=arch.layers,
        num_attention_heads=arch.heads,
        num_key_value_heads=arch.kv_heads,
        head_dim=arch.head_dim,
        intermediate_size=arch.intermediate,
        vocab_size=arch.vocab,
        tie_word_embeddings=arch.tied_embeddings,
    )
    with torch.device("meta"):  # shapes only, no memory
        model = AutoModelForCausalLM.from_config(config)
    assert arch.parameters() == sum(p.numel() for p in model.parameters()) == PUBLISHED_COUNTS[hub_id]


def test_local_configs_agree_with_the_embedded_ones() -> None:
    for name, hub_id in (
        ("smollm2-135m", "HuggingFaceTB/SmolLM2-135M-Instruct"),
        ("qwen2.5-coder-0.5b", "Qwen/Qwen2.5-Coder-0.5B-Instruct"),
        ("qwen2.5-coder-1.5b", "Qwen/Qwen2.5-Coder-1.5B-Instruct"),
    ):
        local = find_architecture(name)
        if "published" in local.source:
            continue  # not prepared on this machine
        assert json.loads(Path(local.source).read_text())["model_type"] in ("llama", "qwen2")
        assert local.parameters() == PUBLISHED[hub_id].parameters(), name
        assert local.kv_bytes_per_token(2) == PUBLISHED[hub_id].kv_bytes_per_token(2), name


def _plan(*overrides: str):
    cfg, _ = compose_recipe(["recipe=smoke_search", "model=smollm2-135m", "model.dtype=bfloat16", *overrides])
    return plan_memory(cfg, PUBLISHED["HuggingFaceTB/SmolLM2-135M-Instruct"])


def test_memory_of_smollm2_under_zero3_matches_hand_arithmetic() -> None:
    """P = 134,515,008; a layer 3,540,096 (576² q + 2·576·192 k,v + 576² o + 3·576·1536 MLP + 2·576 norms);
    embedding 49,152·576 = 28,311,552; 8 processes shard weights (2 B), gradients (2 B) and optimizer state
    (4 B master + 8 B moments); activations with checkpointing: 2 × 1,000 tokens × (30·576 + 10,752) × 2 B."""
    plan = _plan(
        "launcher=zero3",
        "trainer.bf16=true",
        "trainer.prompts_per_step=16",
        "algorithm.num_generations=4",
        "trainer.micro_batch_size=2",
        "rollout.max_episode_tokens=1000",
        "rollout.max_new_tokens=100",
        "model.gradient_checkpointing=true",
        "model.lora.enabled=false",
        "launcher.vllm_gpus=1",
        "launcher.num_processes=8",
    )
    assert plan.parameters == 134_515_008 and plan.trainable == 134_515_008
    training, vllm = plan.devices
    got = {item.name: item.bytes for item in training.items}
    assert got["weights"] == 134_515_008 * 2 / 8 == 33_628_752
    assert got["gradients"] == 33_628_752
    assert got["optimizer state"] == 134_515_008 * 12 / 8 == 201_772_512
    assert got["gathered shards"] == (2 * 3_540_096 + 28_311_552) * 2 == 70_783_488
    assert got["activations"] == 2 * 1000 * (30 * 576 + 10_752) * 2 == 112_128_000
    assert got["LM head (fused)"] == 2000 * 32768 * 2 + 2000 * 576 * 4 + 28_311_552 * 4
    assert "vLLM weights" not in got and {item.name for item in vllm.items} == {"vLLM weights", "vLLM KV cache"}


def test_hf_engine_memory_is_its_own_copy_and_generation_buffers() -> None:
    """The hf engine holds its own weights (P x 2 B in bf16) and, while generating, a KV cache of hf_batch_size x
    max_episode_tokens tokens (2 x 30 layers x 3 KV heads x 64 x 2 B = 23,040 B each) plus fp32 scores of every new
    token (hf_batch_size x max_new_tokens x 49,152 x 4 B). Counted since an H200 run showed the plan too low."""
    plan = _plan("rollout=hf", "rollout.hf_batch_size=8", "rollout.max_episode_tokens=512", "rollout.max_new_tokens=64")
    got = {item.name: item.bytes for item in plan.devices[0].items}
    assert got["hf engine weights"] == 134_515_008 * 2
    assert got["hf engine generation"] == 8 * 512 * 23_040 + 8 * 64 * 49_152 * 4
    vllm = {item.name for item in _plan("rollout=vllm_cpu").devices[0].items}
    assert "hf engine weights" not in vllm


def test_strategies_shard_what_they_should() -> None:
    common = [
        "trainer.bf16=true",
        "trainer.prompts_per_step=16",
        "trainer.micro_batch_size=1",
        "model.lora.enabled=false",
    ]
    parts = {}
    for strategy in ("ddp", "zero2", "zero3", "fsdp2"):
        (device,) = _plan(f"launcher={strategy}", *common).devices
        parts[strategy] = {item.name: item.bytes for item in device.items}
    p = 134_515_008
    assert parts["ddp"]["weights"] == parts["zero2"]["weights"] == 2 * p  # replicated
    assert parts["ddp"]["optimizer state"] == 12 * p and parts["zero2"]["optimizer state"] == 12 * p / 8
    assert parts["ddp"]["DDP gradient buckets"] == parts["ddp"]["gradients"] == 2 * p
    assert parts["zero3"]["weights"] == parts["fsdp2"]["weights"] == 2 * p / 8
    assert "DDP gradient buckets" not in parts["zero2"] and "gathered shards" not in parts["zero2"]
    (lora,) = _plan("launcher=zero2", *common[:-1], "model.lora.enabled=true", "model.lora.r=8").devices
    got = {item.name: item.bytes for item in lora.items}
    adapters = 30 * 8 * (2 * (576 + 576) + 2 * (576 + 192) + 3 * (576 + 1536))  # q, o; k, v; gate, up, down
    assert got["weights (frozen base)"] == 2 * p and got["LoRA adapters"] == 4 * adapters
    assert got["gradients"] == 4 * adapters / 8 and got["optimizer state"] == 8 * adapters / 8  # fp32, no master
    (zero3,) = _plan("launcher=zero3", *common[:-1], "model.lora.enabled=true", "model.lora.r=8").devices
    got = {item.name: item.bytes for item in zero3.items}  # TRL keeps ZeRO-3 adapters in bf16: 2 + 2 + 12 bytes
    assert got["LoRA adapters"] == got["gradients"] == 2 * adapters / 8 and got["optimizer state"] == 12 * adapters / 8


def test_kv_cache_and_update_flops_by_hand() -> None:
    q7, q32 = PUBLISHED["Qwen/Qwen2.5-7B-Instruct"], PUBLISHED["Qwen/Qwen2.5-32B-Instruct"]
    assert q7.kv_bytes_per_token(2) == 2 * 28 * 4 * 128 * 2 == 57_344
    assert q32.kv_bytes_per_token(2, tensor_parallel=4) == 2 * 64 * 2 * 128 * 2 == 65_536
    assert q32.kv_bytes_per_token(2, tensor_parallel=16) == 2 * 64 * 1 * 128 * 2  # fewer KV heads than GPUs
    smol = PUBLISHED["HuggingFaceTB/SmolLM2-135M-Instruct"]
    matmul = 30 * (2 * 576 * 576 + 2 * 576 * 192 + 3 * 576 * 1536) + 28_311_552
    assert smol.matmul_parameters() == matmul == 134_479_872
    attention = 2 * 30 * 576 * 1000
    lora = update_flops_per_token(smol, 1000, lora=True, gradient_checkpointing=False)
    assert lora == (2 * matmul + attention) + (2 * matmul + 2 * attention) == 641_599_488
    full = update_flops_per_token(smol, 1000, lora=False, gradient_checkpointing=True)
    assert full == 2 * (2 * matmul + attention) + 4 * matmul + 2 * attention


def test_unknown_architecture_is_reported_not_fatal(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_embd": 768}))
    result = rlagent("train", *RECIPE, f"model.name_or_path={model}", f"run.root={tmp_path}/runs", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "memory estimate: not available: model_type 'gpt2' is not modelled" in result.stdout


def test_compose_refuses_a_local_layout_with_machines() -> None:
    with pytest.raises(UserError, match=r"launcher\.num_machines=2 needs launcher=accelerate"):
        compose_recipe([*RECIPE, "launcher.num_machines=2", "launcher.main_process_ip=h"])
