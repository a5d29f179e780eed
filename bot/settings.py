"""The one settings object: every knob, from the environment (prefix ARTICLEBOT_) and flags.

Built once at an entry point (CLI, app.py) and passed down; no other module reads the
environment. Every number is bounded, so a value such as ARTICLEBOT_MAX_CITATIONS=-1 or a
port of 0 is refused where the settings are built, with the setting and its bounds named
(`config_error`), instead of failing somewhere deep in a run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError

ENV_PREFIX = "ARTICLEBOT_"


def default_data_dir() -> Path:
    """The per-user data directory: platformdirs' user data dir for "articlebot" (on Linux
    $XDG_DATA_HOME/articlebot, else ~/.local/share/articlebot)."""
    return Path(platformdirs.user_data_dir("articlebot", appauthor=False))


class Settings(BaseSettings):
    """All of articlebot's settings; env names are ARTICLEBOT_<FIELD>."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    store: Path = Field(default_factory=lambda: default_data_dir() / "store")
    data_dir: Path = Field(default_factory=default_data_dir)
    chroma_url: str | None = None
    chroma_token: SecretStr | None = None
    embedder: str = "e5-small-q4"
    article: str | None = None
    # 0 is allowed: fail at once when another writer holds the lock
    lock_timeout_s: float = Field(default=10.0, ge=0, le=600, allow_inf_nan=False)

    # retrieval and answering
    ranker_file: Path | None = None  # default: the model shipped in the package
    # the cross-encoder that rescores the first stage's best sentences ("none": first stage
    # only), and the directory of its reranker.json and graph (default: the package's)
    reranker: Literal["ce", "none"] = "ce"
    reranker_dir: Path | None = None
    ranking_size: int = Field(default=5, ge=1, le=50)
    max_citations: int = Field(default=2, ge=1, le=10)
    max_question_chars: int = Field(default=2000, ge=1, le=100_000)
    # across articles (`--article all`): how many articles, those with the nearest best
    # sentence, are ranked in full; the nearest sentences asked of the store instead when
    # there are more articles than `cached_articles`
    across_sentences: int = Field(default=40, ge=1, le=1000)
    across_articles: int = Field(default=4, ge=1, le=50)
    # articles whose loaded index is kept in memory (least recently used ones are dropped)
    cached_articles: int = Field(default=256, ge=1, le=100_000)

    # generative answers (optional; nothing is called unless configured)
    llm: Literal["openai", "ollama"] | None = None
    llm_base_url: str | None = None
    llm_model: str | None = None
    # 0 would time out every call, so the bound is strict
    llm_timeout_s: float = Field(default=30.0, gt=0, le=600, allow_inf_nan=False)
    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    # the model reads the whole article when its sentences fit this many tokens (estimated
    # at three characters a token); a longer article gives it the best five; 0: always five
    llm_article_tokens: int = Field(default=6000, ge=0, le=1_000_000)

    # web chat
    host: str = "127.0.0.1"
    # 0 (any free port) is refused: the chat's address must be the one the user was told
    port: int = Field(default=7860, ge=1, le=65535)
    auth: SecretStr | None = None
    concurrency_limit: int = Field(default=4, ge=1, le=256)
    queue_max_size: int = Field(default=64, ge=1, le=10_000)
    max_upload_bytes: int = Field(default=1_000_000, ge=1, le=10_000_000)
    # What indexing one article may cost (file, upload or inline text alike): embedding
    # takes about 30 ms a sentence on 2 cores. 1 MB of news prose is about 11,000
    # sentences; 1 MB of one-word sentences would be 250,000 (half an hour of embedding).
    max_article_sentences: int = Field(default=20_000, ge=1, le=1_000_000)
    max_article_chars: int = Field(default=1_000_000, ge=1, le=10_000_000)

    @field_validator("store", "data_dir", "ranker_file", "reranker_dir", mode="before")
    @classmethod
    def _no_empty_path(cls, value: Any) -> Any:
        # Path("") is the current directory: an unset-looking variable must not mean it
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty (an empty path would be the current directory)")
        return value

    # articles from links (`articlebot index https://...`, the chat's link box, the API):
    # loopback, private, link-local and reserved addresses are refused unless allowed here
    allow_private_urls: bool = False
    fetch_timeout_s: float = Field(default=10.0, gt=0, le=300, allow_inf_nan=False)
    max_fetch_bytes: int = Field(default=5_000_000, ge=1, le=50_000_000)

    @property
    def feedback_path(self) -> Path:
        """Where web-chat ratings are saved (on this machine only)."""
        return self.data_dir / "feedback.jsonl"

    @property
    def uploads_dir(self) -> Path:
        """Where uploaded articles are kept."""
        return self.data_dir / "uploads"


def bounds(name: str) -> str | None:
    """A setting's allowed range in words ("from 1 to 10"), or None when it has none."""
    field = Settings.model_fields.get(name)
    if field is None:
        return None
    low = high = None
    strict_low = False
    for rule in field.metadata:
        if getattr(rule, "ge", None) is not None:
            low = rule.ge
        if getattr(rule, "gt", None) is not None:
            low, strict_low = rule.gt, True
        if getattr(rule, "le", None) is not None:
            high = rule.le
    if low is None and high is None:
        return None
    lower = f"more than {low}" if strict_low else f"at least {low}"
    if high is None:
        return lower
    return f"more than {low} and at most {high}" if strict_low else f"from {low} to {high}"


def config_error(exc: ValidationError, flags: Mapping[str, str] | None = None) -> ConfigError:
    """One line for the first problem of a settings ValidationError: the setting, where its
    value came from (the command-line flag in `flags`, by setting, when one gave it; else
    its environment variable), the value given and, for a number, its allowed range."""
    err = exc.errors()[0]
    loc = err.get("loc") or ()
    name = str(loc[0]) if loc else ""
    if name not in Settings.model_fields:
        return ConfigError(f"setting {'.'.join(map(str, loc)) or 'settings'}: {err['msg']}")
    given_by = (flags or {}).get(name)
    env = given_by if given_by else f"env {ENV_PREFIX}{name.upper()}"
    given: Any = err.get("input")
    value = f" = {given!r}" if isinstance(given, (str, int, float)) else ""
    allowed = bounds(name)
    if allowed is None:
        return ConfigError(f"setting {name} ({env}){value}: {err['msg']}")
    kind = "a whole number" if Settings.model_fields[name].annotation is int else "a number"
    return ConfigError(f"setting {name} ({env}){value}: must be {kind} {allowed}")
