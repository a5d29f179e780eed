"""Fuzzing the readers and the model-output filter with hypothesis: whatever the input, the
only exceptions are the domain's own (QAFileError, ArticleError), and a checked reply holds no
address the article lacks and no marker outside 1..k.

Kept fast (about 200 examples a test, no deadline: the machine may be busy)."""

from __future__ import annotations

import json
import re
import tempfile
import unicodedata
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.citation import (
    check_reply,
    marker_numbers,
    sentence_support,
    settled_prefix,
    stream_view,
    strip_markers,
    validate_markers,
)
from bot.eval.qafile import read_qa_file
from bot.links import strip_links
from core.errors import ArticleError, QAFileError
from index.article import article_from_text, decode_article, read_article

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- the Q&A file reader ---------------------------------------------------------------------

_FIELDS = [
    "id",
    "question",
    "answers",
    "evidence",
    "answerable",
    "lang",
    "source",
    "context",
    "is_impossible",
    "answer_start",
    "text",
    "data",
    "paragraphs",
    "qas",
    "title",
]
_SURROGATES = st.sampled_from(["\ud800", "\udfff", "a\udc80b"])
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | _SURROGATES
    | st.sampled_from(["Hvem?", "Putin", "", " "])
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(_FIELDS) | st.text(max_size=4), inner, max_size=6)
    ),
    max_leaves=16,
)
_HOSTILE_LINES = st.sampled_from(
    [
        "[" * 3_000,
        "{" * 3_000,
        '{"id": ' + "7" * 5_000 + ', "question": "q?"}',
        '{"id": "a", "question": "q?", "answers": [{"text": "x", "answer_start": '
        + "1" * 5_000
        + '}], "context": "x"}',
        '{"id": "a", "question": "\\ud800?"}',
        '{"id": "a", "question": "q?"}{"id": "b"}',
        '"\\',
        "\x00",
        "\ufeff{}",
        'id,question\n1,"open',
        "id,question\n" + "x" * 100 + "\x00",
    ]
)
_ROWS = st.lists(
    st.one_of(_VALUES.map(json.dumps), _HOSTILE_LINES, st.text(max_size=40)), min_size=1, max_size=6
)


@st.composite
def _qa_bytes(draw: st.DrawFn) -> bytes:
    """A JSON-ish, CSV-ish or random file, maybe with some bytes replaced."""
    kind = draw(st.sampled_from(["jsonl", "json", "csv", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    rows = draw(_ROWS)
    if kind == "json":
        text = json.dumps(draw(_VALUES)) if draw(st.booleans()) else "[" + ",".join(rows) + "]"
    elif kind == "csv":
        text = "id,question,answers,evidence,answerable\n" + "\n".join(
            ",".join(draw(st.lists(st.text(max_size=8), max_size=6))) for _ in rows
        )
    else:
        text = "\n".join(rows)
    data = text.encode("utf-8", "surrogatepass")
    for _ in range(draw(st.integers(0, 2))):  # a few damaged bytes
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=3)) + data[at + 1 :]
    return data


@FUZZ
@given(
    data=_qa_bytes(),
    suffix=st.sampled_from([".jsonl", ".json", ".csv", ".txt"]),
    skip=st.booleans(),
)
@example(data=b"[" * 200_000, suffix=".jsonl", skip=False)
@example(data=b"[" * 200_000, suffix=".json", skip=False)
@example(data=b'{"id": ' + b"1" * 5_000 + b', "question": "q?"}', suffix=".jsonl", skip=True)
@example(data=b'{"id": "a", "question": "\\ud800"}', suffix=".json", skip=False)
def test_qa_reader_raises_only_qa_file_errors(data: bytes, suffix: str, skip: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"qa{suffix}"
        path.write_bytes(data)
        try:
            qa = read_qa_file(path, skip_invalid=skip)
        except QAFileError as exc:
            message = str(exc)
            assert message.startswith(str(path)) and "\n" not in message, message
            return
    for item in qa.items:  # what is read can be written: the later outputs cannot fail
        json.dumps(
            [
                item.id,
                item.question,
                item.answers,
                item.evidence,
                item.lang,
                item.source,
                item.context,
            ],
            ensure_ascii=False,
        ).encode("utf-8")
        assert item.id.strip() and item.line >= 1


# -- the article reader ----------------------------------------------------------------------


@FUZZ
@given(
    data=st.binary(max_size=400)
    | st.text(max_size=200).map(lambda t: t.encode("utf-8"))
    | st.text(max_size=100).map(lambda t: t.encode("utf-16"))
)
@example(data=b"\xff\xfe\x00\xd8")  # UTF-16 with a lone surrogate
@example(data=b"\xef\xbb\xbf")
@example(data=b"\xed\xa0\x80")  # a surrogate encoded as UTF-8 bytes
def test_article_reader_raises_only_article_errors(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.txt"
        path.write_bytes(data)
        try:
            article = read_article(path)
        except ArticleError as exc:
            assert "\n" not in str(exc)
            article = None
    try:
        text = decode_article(data, "a.txt")
    except ArticleError:
        assert article is None
        return
    try:
        same = article_from_text(text, "a")
    except ArticleError:
        assert article is None
        return
    assert article is not None and article.text == same.text
    assert same.text.strip() and "\x00" not in same.text
    assert unicodedata.is_normalized("NFC", same.text)


@FUZZ
@given(text=st.text(max_size=300))
def test_article_from_text_raises_only_article_errors(text: str) -> None:
    try:
        article = article_from_text(text, "a")
    except ArticleError:
        return
    assert article.text.strip() and len(article.sha256) == 64


# -- the model-output filter -----------------------------------------------------------------

ARTICLES = [
    "",
    "Radtsjenko er professor ved Wilson Center.",
    "Les mer på https://www.nrk.no/nyheter/x i dag, skriv til post@nrk.no eller se "
    "www.nrk.no og nrk.no/tv. Kilde: //cdn.nrk.no/a.png og mailto:tips@nrk.no.",
]
_LINKISH = st.sampled_from(
    [
        "https://evil.example/x",
        "http://evil.example",
        "//evil.example/p",
        "evil.example/p",
        "evil.com",
        "bob@evil.example",
        "mailto:bob@evil.example",
        "javascript:alert(1)",
        "data:text/html,x",
        "file:///etc/passwd",
        "ｈｔｔｐｓ://evil.example",
        "ＷＷＷ．evil．com",
        "www.evil.example",
        "[x](https://evil.example)",
        "![i](https://evil.example/i.png)",
        "<https://evil.example>",
        "<a href=https://evil.example>",
        "<img src=x onerror=y>",
        "https://www.nrk.no/nyheter/x",
        "post@nrk.no",
        "www.nrk.no",
        "nrk.no/tv",
        "//cdn.nrk.no/a.png",
        "mailto:tips@nrk.no",
        "HTTPS://WWW.NRK.NO/nyheter/x",
        "https://",
        "://",
        "@",
        ".",
        "/",
        ":",
        "[",
        "]",
        "(",
        ")",
        "<",
        ">",
        "!",
        "[1234567890]",
        "[" + "9" * 5000 + "]",
        "[1]",
        "[2]",
        "[3, 4]",
        "[2-3]",
        "[^1]",
        "[0]",
        "[-1]",
        "[99]",
        "\u200b",
        "\u00a0",
        "＠",
        "：",
        "／",
        "．",
        "f.eks.",
        "f.Kr.",
        "kom.De",
        "nrk",
        "no",
        "evil",
    ]
)
_REPLIES = st.one_of(
    st.text(max_size=120),
    st.lists(st.one_of(_LINKISH, st.text(max_size=6)), max_size=14).map(" ".join),
    st.lists(st.one_of(_LINKISH, st.text(alphabet="abc .:/@[]()<>1", max_size=4)), max_size=14).map(
        "".join
    ),
)
_SCHEME = r"[a-z0-9+.\-]*://[^\s/?#]*"
# what counts as an address in a checked reply: each must come from the article
_ADDRESS = re.compile(
    _SCHEME + r"|(?<![a-z])(?:mailto|javascript|vbscript|data|file|blob):[^\s]{1,12}"
    r"|[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+|(?<![\w.\-])www\.[\w\-]+(?:\.[\w\-]+)*"
    r"|//[\w\-]+(?:\.[\w\-]+)+",
    re.IGNORECASE,
)
_TRAIL = ".,;:!?'\")]}*_~"
_MARKER = re.compile(r"\[(\d+)\]")


def _addresses_absent_from(text: str, article: str) -> list[str]:
    """The addresses in `text` (NFKC) that `article` (NFKC) does not hold, ignoring case."""
    folded = unicodedata.normalize("NFKC", article).casefold()
    absent = []
    for match in _ADDRESS.finditer(unicodedata.normalize("NFKC", text)):
        found = match.group(0)
        while found and found[-1] in _TRAIL and found.casefold() not in folded:
            found = found[:-1]
        if found and found.casefold() not in folded:
            absent.append(found)
    return absent


@FUZZ
@given(
    reply=_REPLIES, k=st.integers(0, 6), article=st.sampled_from(ARTICLES), cut=st.integers(0, 200)
)
@example(reply="se evil[99].example/x [1]", k=2, article="", cut=10)
@example(reply="ev<i></i>il.com https:<b>//</b>evil.example [1]", k=2, article="", cut=0)
def test_checked_replies_hold_no_foreign_address_and_only_valid_markers(
    reply: str, k: int, article: str, cut: int
) -> None:
    out = check_reply(reply, k, article)
    assert _addresses_absent_from(out.text, article) == [], out.text
    assert not re.search(r"<[!?/]?[A-Za-z][^<>]*>", out.text), out.text  # no whole tag
    shown = [int(n) for n in _MARKER.findall(out.text)]
    assert all(1 <= n <= len(out.cited) for n in shown), out.text
    assert all(1 <= n <= k for n in out.cited) and len(set(out.cited)) == len(out.cited)
    # the streamed view of any prefix holds to the same
    view = stream_view(reply[:cut], k, article)
    assert _addresses_absent_from(view, article) == [], view
    assert all(1 <= int(n) <= k for n in _MARKER.findall(view)), view
    # and the other pure functions never raise
    pieces = sentence_support(out.text)
    assert "".join(p for p, _ in pieces) == out.text
    strip_links(reply, article)
    strip_markers(reply)
    settled_prefix(reply)
    validate_markers(reply, k)
    for inner in re.findall(r"\[([^\]]*)\]", reply):
        marker_numbers(inner)
