"""The command line's choices (flows/cli/options.py) are the values the stages' configs accept: a choice that
`--help` offers and the config then refuses is an error after the user followed the help."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, get_args

import pytest

from curators.decontam.config import DecontamConfig
from curators.dedup.config import DedupConfig
from curators.filter.config import FilterConfig, LabelConfig
from curators.instruct.instructions import Method
from curators.synth.config import SeedConfig
from flows.cli import options
from warehouse.listings import TextTable


def field_values(model: Any, name: str) -> set[str]:
    return set(get_args(model.model_fields[name].annotation))


@pytest.mark.parametrize(
    ("choices", "accepted"),
    [
        (options.Semantic, field_values(DedupConfig, "semantic")),
        (options.Verify, field_values(DedupConfig, "verify")),
        (options.DecontamMethod, field_values(DecontamConfig, "method")),
        (options.Strategy, field_values(LabelConfig, "strategy")),
        (options.ForestKind, field_values(FilterConfig, "kind")),
        (options.SeedMode, field_values(SeedConfig, "mode")),
        (options.InstructMethod, set(get_args(Method))),
        (options.TextTable, set(get_args(TextTable))),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_each_choice_is_a_value_the_config_accepts(choices: type[StrEnum], accepted: set[str]) -> None:
    assert accepted, "the config field has no Literal values to compare with"
    assert {c.value for c in choices} == accepted
