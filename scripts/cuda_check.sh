#!/usr/bin/env bash
# The CUDA path end to end, on a machine with an NVIDIA GPU (run it first there, after `make setup`):
#   1. env    the GPU, driver and library versions;
#   2. tests  tests/test_cuda.py: the hf engine on the GPU, weight pushes, train + resume + eval with trainer=gpu;
#   3. smoke  `rlagent train recipe=smoke_search rollout=hf trainer=gpu` with TensorBoard, then `runs show`;
#   4. vllm   the same with rollout=vllm_cuda when vLLM is installed (skipped otherwise);
#   5. bench  scripts/bench/bench_gpu_step.py: one GRPO step's cost for the shapes of SmolLM2-135M and
#             Qwen2.5-0.5B (random weights; $RLAGENT_HOME/models/NAME or $CUDA_CHECK_SHAPES).
# Each stage writes WORK/NAME.log and prints its tail; a failing stage does not stop the next.
# CUDA_CHECK_STAGES picks stages (default: all five, in this order).
#   bash scripts/cuda_check.sh [WORK]        (default runs/cuda-check; PYTHON picks the interpreter)
set -u
WORK=${1:-runs/cuda-check}
PY=${PYTHON:-python3}
HOME_DIR=${RLAGENT_HOME:-$HOME/.cache/rlagent}
SHAPES=${CUDA_CHECK_SHAPES:-"$HOME_DIR/models/smollm2-135m $HOME_DIR/models/qwen2.5-coder-0.5b"}
STAGES=${CUDA_CHECK_STAGES:-"env tests smoke vllm bench"}
mkdir -p "$WORK"
failed=0

stage() {  # stage NAME SECONDS COMMAND...
  local name=$1 limit=$2 started rc
  shift 2
  case " $STAGES " in *" $name "*) ;; *) return 0 ;; esac
  started=$(date +%s)
  echo "=== $name"
  timeout "$limit" bash -c '"$@"' "$name" "$@" >"$WORK/$name.log" 2>&1  # bash -c: the stages are functions
  rc=$?
  tail -n 30 "$WORK/$name.log"
  echo "=== $name: exit $rc after $(($(date +%s) - started)) s"
  [ "$rc" -eq 0 ] || failed=$((failed + 1))
}

env_report() {
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  "$PY" - <<'EOF'
import importlib
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "device", torch.cuda.get_device_name(0),
      "bf16", torch.cuda.is_bf16_supported())
for name in ("transformers", "trl", "peft", "accelerate", "datasets", "vllm"):
    try:
        print(name, importlib.import_module(name).__version__)
    except Exception as exc:  # noqa: BLE001
        print(name, "not importable:", type(exc).__name__, str(exc).splitlines()[0][:120])
EOF
}

smoke() {  # smoke ROLLOUT: 4 GRPO steps with a checkpoint and an evaluation every 2
  "$PY" -m rlagent train recipe=smoke_search "rollout=$1" trainer=gpu "run.dir=$WORK/smoke-$1" \
    trainer.max_steps=4 trainer.prompts_per_step=4 trainer.micro_batch_size=8 trainer.save_steps=2 \
    trainer.eval_steps=2 trainer.eval_limit=8 algorithm.beta=0.001 "trainer.report_to=[tensorboard]" &&
    "$PY" -m rlagent runs show "$WORK/smoke-$1"
}

vllm_smoke() {
  if ! "$PY" -c "import vllm" 2>/dev/null; then
    echo "vLLM is not installed: skipped"
    return 0
  fi
  smoke vllm_cuda
}

export WORK PY
export -f env_report smoke vllm_smoke
stage env 60 env_report
stage tests 300 "$PY" -m pytest -q -p no:cacheprovider -rA tests/test_cuda.py
stage smoke 240 smoke hf
stage vllm 300 vllm_smoke
# shellcheck disable=SC2086  # SHAPES is a list of folders
stage bench 300 "$PY" scripts/bench/bench_gpu_step.py --out "$WORK/bench" --shapes $SHAPES
echo "cuda_check: $failed stage(s) failed; logs in $WORK"
exit $((failed > 0))
