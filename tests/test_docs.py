"""README.md and docs/contracts.md promise flags, settings and record fields: each one named
there must exist (a renamed or removed one fails here, not in a user's terminal)."""

from __future__ import annotations

import argparse
import re

import pytest

from bot.answer_records import Answer, Citation, Ranked
from bot.settings import Settings
from bot.ui.cli import build_parser
from core.records import Sentence
from tests.conftest import REPO

DOCS = ("README.md", "docs/contracts.md")
# flags of other programs that the docs show (pip's, in the install notes)
OTHER_TOOLS = frozenset({"--index-url"})
# variables only the tests read (tests/conftest.py), documented for contributors
TEST_ONLY = frozenset({"ARTICLEBOT_DATASETS"})


def _options(parser: argparse.ArgumentParser) -> set[str]:
    out: set[str] = set()
    for action in parser._actions:
        out.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out |= _options(sub)
    return out


def _documented(name: str) -> tuple[set[str], set[str]]:
    """The `--flags` and `ARTICLEBOT_*` names in backticks and in `articlebot` command lines."""
    text = (REPO / name).read_text(encoding="utf-8")
    spans = re.findall(r"`([^`\n]+)`", text)
    spans += [line for line in text.splitlines() if line.lstrip().startswith("articlebot ")]
    joined = "\n".join(spans)
    return (
        set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", joined)),
        set(re.findall(r"ARTICLEBOT_[A-Z0-9_]+", joined)),
    )


@pytest.mark.parametrize("name", DOCS)
def test_every_documented_flag_and_setting_exists(name: str) -> None:
    flags, variables = _documented(name)
    assert flags, name  # the parse found the docs' flags at all
    assert flags - _options(build_parser()) - OTHER_TOOLS == set()
    fields = {f"ARTICLEBOT_{field.upper()}" for field in Settings.model_fields}
    assert variables - fields - TEST_ONLY == set()


def test_every_documented_record_field_exists() -> None:
    """The answer record's table in docs/contracts.md against what `to_record` writes."""
    text = (REPO / "docs/contracts.md").read_text(encoding="utf-8")
    section = text.split("## The answer record", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(
        r"^\| `([a-z_]+)(?:\[\]\.([a-z_]+))?`(?:, `\.([a-z_]+)`)?", section, re.MULTILINE
    )
    sentence = Sentence("a", 1, "body", "x", 0, 1)
    citation = Citation(1, sentence, 1.0).to_record(across=True)
    ranked = Ranked(sentence, 1.0).to_record(across=True)
    answer = Answer("q", "a", "nb", "all", (), ()).to_record()
    assert len(rows) > 10
    for top, sub, other in rows:
        assert top in answer or top in citation or top in ranked, top
        for field in (sub, other):
            if field:
                assert field in (citation if top == "citations" else ranked), (top, field)
