"""Reading an article: bytes -> normalised text -> `Article`.

The stored text is the UTF-8 decoded file with the BOM removed, line ends folded to "\\n",
NFC applied and invisible or control characters removed. Every offset points into it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

from core import files
from core.errors import ArticleError
from core.records import Article
from core.text import clean_text

MAX_ARTICLE_BYTES = 1_000_000

_SLUG_STRIP = re.compile(r"[^a-z0-9]+")
_ASCII_FOLD = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "ß": "ss"})


def decode_article(data: bytes, name: str) -> str:
    """Decode article bytes strictly: UTF-8 (BOM optional), or UTF-16 with a BOM.

    Raises ArticleError naming the file and the byte offset of the first invalid byte;
    nothing is ever dropped silently.
    """
    if data.startswith(b"\xff\xfe") or data.startswith(b"\xfe\xff"):
        if _utf8_behind_a_mark(data[2:]):
            raise ArticleError(
                f"{name}: starts with a UTF-16 byte-order mark (0x{data[0]:02x} 0x{data[1]:02x}) "
                "but the rest is UTF-8 text; remove the first two bytes or save it as UTF-8"
            )
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ArticleError(f"{name}: invalid UTF-16 at byte {exc.start}") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArticleError(
            f"{name}: not valid UTF-8 at byte {exc.start} "
            f"(0x{data[exc.start]:02x}); save the file as UTF-8"
        ) from None


def _utf8_behind_a_mark(body: bytes) -> bool:
    """Whether the bytes after a UTF-16 byte-order mark are UTF-8 text rather than UTF-16:
    they decode as UTF-8 and hold no zero byte. UTF-16 text in a Latin script has a zero in
    every other byte, and text in other scripts is hardly ever valid UTF-8, while UTF-8 read
    as UTF-16 pairs its letters into CJK characters without an error."""
    if not body or b"\x00" in body:
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def slugify(stem: str) -> str:
    """The slug of a file stem: lower-case ASCII letters, digits and single dashes."""
    folded = unicodedata.normalize("NFKD", stem.lower().translate(_ASCII_FOLD))
    ascii_only = folded.encode("ascii", "ignore").decode("ascii")
    return _SLUG_STRIP.sub("-", ascii_only).strip("-") or "article"


def inline_id(text: str) -> str:
    """The id of an article given inline (a `context` in an eval file)."""
    return "ctx-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


def title_of(text: str) -> str:
    """A display title: the first line that reads like a headline (skipping a one-word
    section label such as "Verden"), without Markdown heading marks."""
    lines = [ln.strip().lstrip("#").strip() for ln in text.split("\n") if ln.strip()]
    for ln in lines[:2]:
        if len(ln.split()) > 1 or len(lines) == 1:
            return ln[:200]
    return lines[0][:200] if lines else ""


def article_from_text(text: str, article_id: str, source: str = "inline") -> Article:
    """Build an `Article` from raw text (cleaned here)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ArticleError(
            f"{source}: not valid text (a lone surrogate at character {exc.start + 1})"
        ) from None
    stored = clean_text(text)
    if not stored.strip():
        raise ArticleError(f"{source}: the article is empty")
    digest = hashlib.sha256(stored.encode("utf-8")).hexdigest()
    return Article(id=article_id, title=title_of(stored), text=stored, sha256=digest, source=source)


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (`core.files.read_bounded`),
    ArticleError otherwise."""
    return files.read_bounded(path, limit, ArticleError)


def read_article(
    path: Path, article_id: str | None = None, limit: int = MAX_ARTICLE_BYTES
) -> Article:
    """Read and normalise an article file (at most `limit` bytes); its id defaults to the
    slug of its stem."""
    data = read_bounded(path, limit)
    text = decode_article(data, str(path))
    return article_from_text(text, article_id or slugify(path.stem), source=str(path))
