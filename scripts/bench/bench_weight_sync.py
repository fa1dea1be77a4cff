"""Weight sync: in-place reload into the running vLLM engine vs. saving a checkpoint and starting a new
engine from it (what a loop without in-process sync must do). Prints a markdown table."""

from __future__ import annotations

import tempfile

from common import timed, vllm

from rlagent.models.prepare import prepare
from rlagent.train.sync import push_weights


def main() -> None:
    import torch
    from transformers import AutoModelForCausalLM

    path = str(prepare("smollm2-135m"))
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    engine = vllm(path)
    reload_s, _ = timed(lambda: push_weights(model, engine), repeats=5)
    engine.close()

    def rebuild() -> None:
        with tempfile.TemporaryDirectory() as folder:
            model.save_pretrained(folder)
            engine.tokenizer.save_pretrained(folder)
            fresh = vllm(folder)
            fresh.close()

    rebuild_s, _ = timed(rebuild, repeats=3)
    print("| SmolLM2-135M, fp32, CPU | seconds | ratio |")
    print("|---|---:|---:|")
    print(f"| in-process reload (`push_weights`) | {reload_s:.2f} | 1.0 |")
    print(f"| save checkpoint + new vLLM engine | {rebuild_s:.2f} | {rebuild_s / reload_s:.1f}x |")


if __name__ == "__main__":
    main()
