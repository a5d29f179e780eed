"""A saved or fetched web page -> the article it carries, with its headline, byline and date.

The article body is found by trafilatura with its own default extraction settings (neither
precision nor recall favoured): menus, cookie banners, advertisements, related links,
comments and scripts are left out. What it keeps is written as lines: the headline first as
`# Headline`, sub-headings as `## Sub-heading`, then every paragraph, list item, quote line
and table row on a line of its own, so the sentence splitter sees the page's structure.
The metadata (title, author, publication date through htmldate, site name) comes from the
page's JSON-LD, Open Graph and meta tags.

The bytes are decoded by what the page declares (a BOM, the HTTP charset, a `<meta charset>`),
and, undeclared, as UTF-8 or else windows-1252, the web's default; a charset Python does not
know is an error rather than a guess. trafilatura and lxml are imported when a page is read.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Any

from core.errors import ArticleError

# At least this many characters of text besides the headline, or the page has no article.
MIN_BODY_CHARS = 80
_META_CHARSET = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE
)
_HTML_START = re.compile(
    rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body|meta|title)\b",
    re.IGNORECASE | re.DOTALL,
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SPACE = re.compile(r"\s+")
# Labels whose Python codec differs from what browsers decode them as.
_WEB_ALIASES = {
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "x-sjis": "shift_jis",
}


@dataclass(frozen=True)
class Extracted:
    """What an extractor kept of a page or PDF: the article's lines and what it says of
    itself (None where it says nothing)."""

    text: str
    title: str | None = None
    byline: str | None = None
    published: str | None = None
    site: str | None = None


def looks_like_html(data: bytes) -> bool:
    """Whether bytes begin as an HTML document does (a doctype or an html/head/body tag,
    after a BOM, white space or comments)."""
    head = data[:2048].lstrip(b"\xef\xbb\xbf")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            head = head.decode("utf-16").encode("utf-8", "ignore")
        except UnicodeDecodeError:
            return False
    return _HTML_START.match(head) is not None


def decode_page(data: bytes, name: str, declared: str | None = None) -> str:
    """The page's text: a BOM wins, then the declared charset (HTTP), then `<meta
    charset>`; undeclared, UTF-8 or else windows-1252. An unknown charset or bytes invalid
    in the declared one raise ArticleError."""
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            return _decode(data, codec, name)
    found = _META_CHARSET.search(data[:8192])
    label = declared or (found.group(1).decode("ascii") if found else None)
    if label:
        return _decode(data, label, name)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined
            return data.decode("latin-1")


def _decode(data: bytes, label: str, name: str) -> str:
    label = label.strip().strip("\"'").lower()
    label = _WEB_ALIASES.get(label, label)
    try:
        codec = codecs.lookup(label).name
    except LookupError:
        raise ArticleError(
            f"{name}: the page is in an unknown character set {label[:40]!r}"
        ) from None
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise ArticleError(
            f"{name}: not valid {label} at byte {exc.start} (the page's declared character set)"
        ) from None


def extract_page(
    data: bytes, name: str, url: str | None = None, charset: str | None = None
) -> Extracted:
    """The article of an HTML page (bytes as saved or fetched; `url` the page's address
    when known, `charset` the one HTTP declared). Raises ArticleError when the page holds
    no article text."""
    import trafilatura  # a page is being read: only now is the extractor needed

    html = decode_page(data, name, charset)
    try:
        doc = trafilatura.bare_extraction(html, url=url, include_comments=False, with_metadata=True)
    except (ValueError, TypeError, RecursionError) as exc:  # markup lxml cannot parse
        raise ArticleError(f"{name}: not a readable HTML page ({type(exc).__name__})") from None
    body = getattr(doc, "body", None) if doc is not None else None
    lines = _render(body) if body is not None else []
    title = _one_line(getattr(doc, "title", None))
    if lines and lines[0].startswith("# "):
        title = title or lines[0][2:]
    elif title:
        lines.insert(0, f"# {title}")
    text_chars = sum(len(ln) for ln in lines if not ln.startswith("# "))
    if text_chars < MIN_BODY_CHARS:
        raise ArticleError(
            f"{name}: no article text found in the page (only menus, links or other page furniture)"
        )
    published = _one_line(getattr(doc, "date", None))
    return Extracted(
        text="\n".join(lines),
        title=title,
        byline=_one_line(getattr(doc, "author", None)),
        published=published if published and _ISO_DATE.match(published) else None,
        site=_one_line(getattr(doc, "sitename", None) or getattr(doc, "hostname", None)),
    )


def _one_line(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    folded = _SPACE.sub(" ", value).strip()
    return folded[:300] or None


def _flat(element: Any) -> list[str]:
    """An element's text as lines: its `<lb/>` line breaks kept, other white space folded."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        parts.append("\n" if node.tag == "lb" else node.text or "")
        for child in node:
            walk(child)
            parts.append(child.tail or "")

    walk(element)
    joined = "".join(parts)
    return [ln for ln in (_SPACE.sub(" ", part).strip() for part in joined.split("\n")) if ln]


def _render(body: Any) -> list[str]:
    """trafilatura's body (head, p, list, quote, table ...) as the article's lines."""
    lines: list[str] = []
    for element in body:
        tag = element.tag
        if tag == "head":
            text = " ".join(_flat(element))
            if text:
                mark = "#" if element.get("rend") == "h1" and not lines else "##"
                lines.append(f"{mark} {text}")
        elif tag == "list":
            for item in element.iter("item"):
                if item.getparent() is element:
                    lines += _flat(item)
        elif tag == "table":
            for row in element.iter("row"):
                cells = [" ".join(_flat(cell)) for cell in row]
                if any(cells):
                    lines.append(" | ".join(c for c in cells if c))
        elif tag in ("graphic", "ref") and not (element.text or "").strip():
            continue
        else:
            lines += _flat(element)
    return lines
