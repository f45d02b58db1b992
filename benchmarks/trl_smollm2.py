"""SFT and DPO steps with TRL on the real SmolLM2-135M-Instruct, dequantised to float32 from the packaged GGUF.

The same trainers as tests/trl_tiny.py (which use a tiny random Llama), on the real 135M model: prints the
seconds and losses (and DPO reward margins) per trainer. CPU only, offline; ~90 s and ~3.5 GB for 3 steps each.

    .venv/bin/python benchmarks/trl_smollm2.py [--steps 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

from tests.trl_tiny import GGUF_FILE, smollm2_folder, smollm2_tokenizer, train_dpo, train_sft  # noqa: E402

QA = [
    ("What is 8 + 4?", "8 + 4 = 12.", "8 + 4 = 14."),
    ("What is the capital of Japan?", "The capital of Japan is Tokyo.", "The capital of Japan is Osaka."),
    ("How many legs does a spider have?", "A spider has eight legs.", "A spider has six legs."),
    ("What is 15 divided by 3?", "15 divided by 3 is 5.", "15 divided by 3 is 6."),
    ("Which planet is closest to the Sun?", "Mercury is closest to the Sun.", "Venus is closest to the Sun."),
    ("What is the boiling point of water at sea level?", "100 degrees Celsius.", "80 degrees Celsius."),
]
SFT_ROWS = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]} for q, a, _ in QA]
DPO_ROWS = [
    {
        "prompt": [{"role": "user", "content": q}],
        "chosen": [{"role": "assistant", "content": good}],
        "rejected": [{"role": "assistant", "content": bad}],
    }
    for q, good, bad in QA
]


def load_smollm2() -> torch.nn.Module:
    """SmolLM2-135M-Instruct from the GGUF, dequantised to float32 and unmarked as quantized.

    transformers keeps a `GgufHfQuantizer` (`is_quantized=True`) on the float32 weights it dequantises, and its
    Trainer refuses to train a "purely quantized" model without adapters; the quantizer's own
    `remove_quantization_config` drops that mark.
    """
    model = AutoModelForCausalLM.from_pretrained(smollm2_folder(), gguf_file=GGUF_FILE, dtype=torch.float32)
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()

    tokenizer = smollm2_tokenizer()
    with tempfile.TemporaryDirectory(prefix="trl-smollm2-") as tmp:
        for name, train, rows in (("sft", train_sft, SFT_ROWS), ("dpo", train_dpo, DPO_ROWS)):
            start = time.perf_counter()
            model = load_smollm2()
            loaded = time.perf_counter() - start
            result = train(rows, Path(tmp) / name, steps=args.steps, model=model, tokenizer=tokenizer)
            seconds = time.perf_counter() - start
            print(f"{name}: {seconds:.1f} s (load {loaded:.1f} s), steps {result['steps']}")
            for key, values in result.items():
                if key != "steps":
                    print(f"  {key}: {[round(v, 4) for v in values]}")
            del model


if __name__ == "__main__":
    main()
