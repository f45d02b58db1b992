"""Magpie's prefix: the chat template comes from the model's own GGUF metadata (or the config)."""

from __future__ import annotations

import pytest

from curators.errors import CurateError
from curators.llm.chat_template import ChatTemplate, template_of_gguf, user_turn_prefix
from curators.llm.local_server import TEST_MODEL, resolve_model

LLAMA3 = (
    "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    " + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)


def test_the_smollm2_gguf_gives_the_chatml_prefix_up_to_the_user_turn() -> None:
    template = template_of_gguf(resolve_model(TEST_MODEL))
    turn = user_turn_prefix(template, "You are a helpful assistant.")
    assert turn.prefix == "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    assert turn.stop[0] == "<|im_end|>"


def test_a_configured_llama3_template_and_a_template_without_the_user_message() -> None:
    turn = user_turn_prefix(ChatTemplate(LLAMA3, "<|begin_of_text|>", "<|eot_id|>"), None)
    assert turn.prefix == "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
    assert turn.stop == ("<|eot_id|>",)
    with pytest.raises(CurateError, match="does not show the user's message"):
        user_turn_prefix(ChatTemplate("{{ bos_token }}hello"), None)
