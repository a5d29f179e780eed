"""Articles as people have them -> `Article`: the one door every entry goes through.

A reference is a file (text or Markdown, a saved web page, a PDF) or a web link; bytes come
with the name they were given (an upload). What kind of document it is follows from its
name and is checked against its first bytes, so a file that is not what its name says is
refused rather than read as something else. Web pages go through `index.webpage`, links
through `index.fetch` first, PDFs through `index.pdf`; plain text as `index.article` has
always read it. The stored text is then normalised the same way for every kind (NFC, no
BOM, no control or invisible characters), and the metadata a page or PDF gives travels with
it: every citation's offsets point into that stored text.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from core.errors import ArticleError, ArticleTooLargeError
from core.records import Article
from core.text import clean_text
from index.article import (
    MAX_ARTICLE_BYTES,
    article_from_text,
    decode_article,
    read_bounded,
    slugify,
)
from index.fetch import FetchPolicy, fetch_page, is_link, is_url
from index.webpage import Extracted, looks_like_html

Kind = Literal["text", "html", "pdf"]
TEXT_SUFFIXES = (".txt", ".md")
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
PDF_SUFFIXES = (".pdf",)
SUFFIXES = TEXT_SUFFIXES + HTML_SUFFIXES + PDF_SUFFIXES
MAX_PAGE_BYTES = 10_000_000  # a saved page carries its scripts and styles too
MAX_PDF_BYTES = 50_000_000


@dataclasses.dataclass(frozen=True)
class Limits:
    """How much of a document is read (bytes per kind, a PDF's pages, links' policy) and
    what one article may cost to index (its characters and sentences)."""

    text_bytes: int = MAX_ARTICLE_BYTES
    page_bytes: int = MAX_PAGE_BYTES
    pdf_bytes: int = MAX_PDF_BYTES
    pdf_pages: int = 500
    fetch: FetchPolicy = dataclasses.field(default_factory=FetchPolicy)
    chars: int = 1_000_000
    sentences: int = 20_000

    def check(self, article: Article, sentences: int | None = None) -> None:
        """Raise ArticleTooLargeError when the article (or its `sentences`) is over a limit."""
        if len(article.text) > self.chars:
            raise ArticleTooLargeError(
                f"{article.source}: {len(article.text)} characters, more than the "
                f"{self.chars} an article may have (setting max_article_chars)"
            )
        if sentences is not None and sentences > self.sentences:
            raise ArticleTooLargeError(
                f"{article.source}: {sentences} sentences, more than the {self.sentences} "
                "an article may have (setting max_article_sentences)"
            )


DEFAULT_LIMITS = Limits()


def stem_of(ref: str) -> str:
    """The stem an article id is made from: a file's stem, or a link's last path part
    (its host when the path is empty)."""
    if is_url(ref):
        parts = urlsplit(ref)
        last = [p for p in parts.path.split("/") if p]
        return Path(last[-1]).stem if last else (parts.hostname or "page")
    return Path(ref).stem


def source_of(ref: str | Path) -> str:
    """How a reference is recorded as an article's source: a link as given, a file by its
    absolute path (so that indexing it again finds the same article)."""
    if isinstance(ref, str) and is_url(ref):
        return ref
    return str(Path(ref).expanduser().resolve())


def kind_of(data: bytes, name: str) -> Kind:
    """The kind of a document from its name, checked against its first bytes."""
    suffix = Path(name).suffix.lower()
    is_pdf = data[:1024].lstrip().startswith(b"%PDF-")
    if suffix in PDF_SUFFIXES:
        if not is_pdf:
            seen = "an HTML page" if looks_like_html(data) else "something else"
            raise ArticleError(f"{name}: not a PDF (the file is {seen}); check its name")
        return "pdf"
    if is_pdf:
        if suffix in TEXT_SUFFIXES + HTML_SUFFIXES:
            raise ArticleError(f"{name}: the file is a PDF, not {suffix}; name it .pdf")
        return "pdf"
    if not data.strip():
        raise ArticleError(f"{name}: the article is empty")
    if suffix in HTML_SUFFIXES:
        if b"<" not in data[:65536]:
            raise ArticleError(f"{name}: not an HTML page (no markup); name it .txt")
        return "html"
    if looks_like_html(data):
        if suffix in TEXT_SUFFIXES:
            # read as text, its markup would be quoted as the article's sentences
            raise ArticleError(f"{name}: the file is an HTML page, not {suffix}; name it .html")
        return "html"
    return "text"


def limit_for(name: str, limits: Limits) -> int:
    """The most bytes read for a file of this name."""
    suffix = Path(name).suffix.lower()
    if suffix in PDF_SUFFIXES:
        return limits.pdf_bytes
    if suffix in HTML_SUFFIXES:
        return limits.page_bytes
    if suffix in TEXT_SUFFIXES:
        return limits.text_bytes
    return max(limits.text_bytes, limits.page_bytes, limits.pdf_bytes)


def load_article(ref: str | Path, article_id: str, limits: Limits = DEFAULT_LIMITS) -> Article:
    """The article a reference names: a file read whole (up to its kind's limit) or a link
    fetched under `limits.fetch`; recorded with `source_of(ref)`."""
    if isinstance(ref, str) and is_url(ref):
        page = fetch_page(ref, limits.fetch)
        return article_from_bytes(
            page.data,
            ref,
            article_id,
            source=ref,
            url=page.url,
            charset=page.charset,
            limits=limits,
        )
    if isinstance(ref, str) and is_link(ref):
        raise ArticleError(f"{ref[:200]}: only http and https links can be read")
    path = Path(ref).expanduser()
    data = read_bounded(path, limit_for(path.name, limits))
    return article_from_bytes(data, str(path), article_id, source=source_of(path), limits=limits)


def article_from_bytes(
    data: bytes,
    name: str,
    article_id: str,
    source: str,
    url: str | None = None,
    charset: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Article:
    """An article from a document's bytes; `name` is what messages call it and gives its
    kind (a link's bytes are always read as a web page)."""
    kind: Kind = "html" if url is not None else kind_of(data, name)
    shown = Path(name).name if url is None else name
    if kind == "text":
        if len(data) > limits.text_bytes:
            raise ArticleError(f"{shown}: larger than the {limits.text_bytes} byte limit")
        return article_from_text(decode_article(data, shown), article_id, source=source)
    if kind == "html":
        if len(data) > limits.page_bytes:
            raise ArticleError(f"{shown}: larger than the {limits.page_bytes} byte limit")
        from index.webpage import extract_page

        extracted = extract_page(data, shown, url=url, charset=charset)
    else:
        if len(data) > limits.pdf_bytes:
            raise ArticleError(f"{shown}: larger than the {limits.pdf_bytes} byte limit")
        from index.pdf import extract_pdf

        extracted = extract_pdf(data, shown, max_pages=limits.pdf_pages)
    return with_metadata(extracted, article_id, source, shown, limits)


def with_metadata(
    extracted: Extracted, article_id: str, source: str, name: str, limits: Limits = DEFAULT_LIMITS
) -> Article:
    """The stored article of an extractor's text, with its metadata."""
    if len(extracted.text.encode("utf-8")) > limits.text_bytes:
        raise ArticleError(
            f"{name}: the article's text is larger than the {limits.text_bytes} byte limit"
        )
    article = article_from_text(extracted.text, article_id, source=source)

    def meta(value: str | None) -> str | None:
        cleaned = " ".join(clean_text(value).split()) if value else ""
        return cleaned or None

    return dataclasses.replace(
        article,
        title=meta(extracted.title) or article.title,
        byline=meta(extracted.byline),
        published=meta(extracted.published),
        site=meta(extracted.site),
    )


def default_id(ref: str | Path) -> str:
    """The id a reference gets when nothing else names it: the slug of its stem."""
    return slugify(stem_of(str(ref)))
