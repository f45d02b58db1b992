"""A model's chat template, and the prefix of a user turn that Magpie sends as a raw completion.

The template comes from the model itself: a GGUF file's `tokenizer.chat_template` metadata (the embedded
endpoint's model), or a template given in the config for a remote endpoint. The prefix is the template
rendered with a system message and a marker as the user's content, cut at the marker; what follows the
marker up to the next line break is the end-of-turn text, where the completion stops.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from curators.errors import CurateError

MARKER = "\x00USER-TURN\x00"


@dataclass(frozen=True)
class ChatTemplate:
    template: str  # Jinja, as transformers renders it
    bos_token: str = ""
    eos_token: str = ""


@dataclass(frozen=True)
class TurnPrefix:
    prefix: str  # everything before the user's words
    stop: tuple[str, ...]  # where the user turn ends


def template_of_gguf(path: Path) -> ChatTemplate:
    """The chat template and BOS/EOS tokens in a GGUF file's metadata."""
    from gguf import GGUFReader  # a few seconds on a large vocabulary: read only when Magpie asks

    reader = GGUFReader(str(path))
    field = reader.fields.get("tokenizer.chat_template")
    if field is None:
        raise CurateError(
            f"{path.name} has no chat template in its metadata",
            hint="give one in instruct.magpie.chat_template (the model's Jinja chat template)",
        )
    tokens = reader.fields.get("tokenizer.ggml.tokens")

    def token(key: str) -> str:
        found = reader.fields.get(key)
        return str(tokens.contents(int(found.contents()))) if found is not None and tokens is not None else ""

    return ChatTemplate(
        str(field.contents()), token("tokenizer.ggml.bos_token_id"), token("tokenizer.ggml.eos_token_id")
    )


def user_turn_prefix(template: ChatTemplate, system: str | None) -> TurnPrefix:
    """The text up to where the user's words start (with `system` as the system message, if given), and the
    end-of-turn text that follows the user's words."""
    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": MARKER}]
    try:
        text = env.from_string(template.template).render(
            messages=messages, add_generation_prompt=False, bos_token=template.bos_token, eos_token=template.eos_token
        )
    except TemplateError as exc:
        raise CurateError(f"the chat template cannot be rendered: {exc}") from None
    if MARKER not in text:
        raise CurateError(
            "the chat template does not show the user's message", hint="check instruct.magpie.chat_template"
        )
    prefix, _, rest = text.partition(MARKER)
    end = rest.split("\n")[0].strip() or template.eos_token
    stop = tuple(dict.fromkeys(s for s in (end, template.eos_token) if s))
    if not stop:
        raise CurateError("the chat template has no end-of-turn text after the user's message")
    return TurnPrefix(prefix=prefix, stop=stop)
