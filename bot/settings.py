"""The one settings object: every knob, from the environment (prefix ARTICLEBOT_) and flags.

Built once at an entry point (CLI, app.py) and passed down; no other module reads the
environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """The per-user data directory (XDG_DATA_HOME/articlebot, else ~/.local/share)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "articlebot"


class Settings(BaseSettings):
    """All of articlebot's settings; env names are ARTICLEBOT_<FIELD>."""

    model_config = SettingsConfigDict(env_prefix="ARTICLEBOT_", extra="ignore", frozen=True)

    store: Path = Field(default_factory=lambda: default_data_dir() / "store")
    data_dir: Path = Field(default_factory=default_data_dir)
    chroma_url: str | None = None
    chroma_token: SecretStr | None = None
    embedder: str = "e5-small-q4"
    article: str | None = None
    lock_timeout_s: float = 10.0

    # retrieval and answering
    ranker_file: Path | None = None  # default: the model shipped in the package
    ranking_size: int = 5
    max_citations: int = 2
    max_question_chars: int = 2000

    # generative answers (optional; nothing is called unless configured)
    llm: Literal["openai", "ollama"] | None = None
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_timeout_s: float = 30.0
    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")

    # web chat
    host: str = "127.0.0.1"
    port: int = 7860
    auth: SecretStr | None = None
    concurrency_limit: int = 4
    queue_max_size: int = 64
    max_upload_bytes: int = 1_000_000

    @property
    def feedback_path(self) -> Path:
        """Where web-chat ratings are saved (on this machine only)."""
        return self.data_dir / "feedback.jsonl"

    @property
    def uploads_dir(self) -> Path:
        """Where uploaded articles are kept."""
        return self.data_dir / "uploads"
