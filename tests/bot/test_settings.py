"""Settings: every number bounded, refused with the setting and its range named; the data
directory from platformdirs (XDG_DATA_HOME honoured on Linux)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import Settings, bounds, config_error, default_data_dir
from tests.conftest import run_cli

# (setting, rejected values, accepted values)
CASES = [
    ("ranking_size", [0, 51, -1], [1, 50]),
    ("max_citations", [0, 11, -1], [1, 10]),
    ("max_question_chars", [0, 100_001], [1, 100_000]),
    ("port", [0, 65_536, -80], [1, 65_535]),
    ("concurrency_limit", [0, 257], [1, 256]),
    ("queue_max_size", [0, 10_001], [1, 10_000]),
    ("max_upload_bytes", [0, 10_000_001], [1, 10_000_000]),
    ("lock_timeout_s", [-0.1, 600.5, float("nan"), float("inf")], [0, 600]),
    ("llm_timeout_s", [0, -1, 601, float("nan")], [0.01, 600]),
    ("llm_article_tokens", [-1, 1_000_001], [0, 1_000_000]),
    ("across_sentences", [0, 1001], [1, 1000]),
    ("across_articles", [0, 51], [1, 50]),
    ("cached_articles", [0, 100_001], [1, 100_000]),
    ("max_article_sentences", [0, 1_000_001], [1, 1_000_000]),
    ("max_article_chars", [0, 10_000_001], [1, 10_000_000]),
    ("fetch_timeout_s", [0, -1, 301, float("nan")], [0.1, 300]),
    ("max_fetch_bytes", [0, 50_000_001], [1, 50_000_000]),
]


def test_every_numeric_setting_is_bounded() -> None:
    numeric = [name for name, f in Settings.model_fields.items() if f.annotation in (int, float)]
    assert sorted(numeric) == sorted(name for name, _, _ in CASES)
    assert all(bounds(name) is not None for name in numeric)


@pytest.mark.parametrize(("name", "bad", "good"), CASES, ids=[c[0] for c in CASES])
def test_bounds_refuse_and_accept(name: str, bad: list[float], good: list[float]) -> None:
    for value in bad:
        with pytest.raises(ValidationError) as err:
            Settings(**{name: value})
        message = str(config_error(err.value))
        assert message.startswith(f"setting {name} (env ARTICLEBOT_{name.upper()}) = ")
        kind = "a whole number" if Settings.model_fields[name].annotation is int else "a number"
        assert message.endswith(f"must be {kind} {bounds(name)}"), message
    for value in good:
        assert getattr(Settings(**{name: value}), name) == value


def test_config_error_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTICLEBOT_MAX_CITATIONS", "-1")
    with pytest.raises(ValidationError) as err:
        Settings()
    assert str(config_error(err.value)) == (
        "setting max_citations (env ARTICLEBOT_MAX_CITATIONS) = '-1': must be a whole "
        "number from 1 to 10"
    )
    monkeypatch.delenv("ARTICLEBOT_MAX_CITATIONS")
    with pytest.raises(ValidationError) as err:
        Settings(llm_timeout_s=0)
    assert str(config_error(err.value)).endswith("must be a number more than 0 and at most 600")
    with pytest.raises(ValidationError) as err:
        Settings(llm="nope")  # type: ignore[arg-type]
    assert str(config_error(err.value)).startswith("setting llm (env ARTICLEBOT_LLM) = 'nope': ")


@pytest.mark.skipif(sys.platform != "linux", reason="XDG applies on Linux")
def test_data_dir_follows_xdg_and_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "articlebot"
    assert Settings().store == tmp_path / "xdg" / "articlebot" / "store"
    assert Settings().feedback_path == tmp_path / "xdg" / "articlebot" / "feedback.jsonl"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home" / ".local" / "share" / "articlebot"


@pytest.mark.parametrize(
    ("env", "args", "name"),
    [
        (
            {"ARTICLEBOT_MAX_CITATIONS": "-1"},
            ["ask", "Hvem er Sergej Radtsjenko?"],
            "max_citations",
        ),
        ({"ARTICLEBOT_RANKING_SIZE": "500"}, ["ask", "Hvem?"], "ranking_size"),
        ({"ARTICLEBOT_PORT": "0"}, ["serve"], "port"),
    ],
)
def test_cli_refuses_an_out_of_range_setting_in_one_line(
    cli_env: dict[str, str], tmp_path: Path, env: dict[str, str], args: list[str], name: str
) -> None:
    r = run_cli([*args, "--store", str(tmp_path / "store")], {**cli_env, **env}, timeout=120)
    assert (r.returncode, r.stdout) == (2, ""), r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    line = r.stderr.strip()
    assert line.startswith(f"articlebot: error: setting {name}"), line
    low, high = {"max_citations": (1, 10), "ranking_size": (1, 50), "port": (1, 65535)}[name]
    # the setting's variable and its range are named (docs/contracts.md, "Settings")
    assert f"(env ARTICLEBOT_{name.upper()})" in line, line
    assert line.endswith(f"must be a whole number from {low} to {high}"), line
    assert not (tmp_path / "store").exists()  # refused before any work


def test_an_unknown_keyword_is_refused_and_an_unknown_variable_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A typo in code that builds Settings fails where it is made, not as a default used
    silently; the environment may hold ARTICLEBOT_* names of other versions."""
    with pytest.raises(ValidationError) as raised:
        Settings(prot=8000)  # type: ignore[call-arg]
    assert str(config_error(raised.value)) == "setting prot: Extra inputs are not permitted"
    monkeypatch.setenv("ARTICLEBOT_NO_SUCH_SETTING", "1")
    assert Settings().port == 7860
