from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from core.errors import ArticleError
from core.text import clean_text
from index.article import read_article, slugify


def test_bom_and_nfd_normalised(tmp_path: Path) -> None:
    plain = tmp_path / "a.txt"
    plain.write_bytes("Bjørnøya på Svalbard.\n".encode())
    bom = tmp_path / "b.txt"
    bom.write_bytes(
        b"\xef\xbb\xbf" + unicodedata.normalize("NFD", "Bjørnøya på Svalbard.\r\n").encode()
    )
    assert read_article(plain).text == read_article(bom).text == "Bjørnøya på Svalbard.\n"
    assert read_article(plain).sha256 == read_article(bom).sha256


def test_invalid_utf8_names_file_and_offset(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes("Bjørn".encode() + b"\xff" + b" og mer")
    with pytest.raises(ArticleError, match=r"bad\.txt: not valid UTF-8 at byte 6"):
        read_article(bad)


def test_latin1_is_refused_not_mangled(tmp_path: Path) -> None:
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Bjørnøya på Svalbard".encode("cp1252"))
    with pytest.raises(ArticleError, match="not valid UTF-8"):
        read_article(latin)


def test_utf16_with_bom_is_read(tmp_path: Path) -> None:
    f = tmp_path / "u16.txt"
    f.write_bytes("Bjørnøya på Svalbard.".encode("utf-16"))
    assert read_article(f).text == "Bjørnøya på Svalbard."


def test_utf8_behind_a_utf16_mark_is_refused_not_read_as_cjk(tmp_path: Path) -> None:
    f = tmp_path / "marked.txt"
    for mark in (b"\xff\xfe", b"\xfe\xff"):
        f.write_bytes(mark + "Bjørnøya på Svalbard er en øy.\n".encode())
        with pytest.raises(
            ArticleError, match=r"marked\.txt: starts with a UTF-16 byte-order mark"
        ):
            read_article(f)
    # UTF-16 text in other scripts is still read: no zero byte, but not UTF-8 either
    f.write_bytes("斯瓦尔巴群岛。".encode("utf-16"))
    assert b"\x00" not in f.read_bytes()
    assert read_article(f).text == "斯瓦尔巴群岛。"


def test_empty_and_invisible_only_articles_are_errors(tmp_path: Path) -> None:
    f = tmp_path / "empty.txt"
    f.write_text("\u200b\n \x00\n")
    with pytest.raises(ArticleError, match="empty"):
        read_article(f)


def test_controls_and_smuggling_characters_removed() -> None:
    raw = "A\x00B\u200bC\u202eD\U000e0041E\x1b[2JF\fG\ufeffH"
    assert clean_text(raw) == "ABCDE[2JFGH"


def test_slugs() -> None:
    assert slugify("Putin Kim") == "putin-kim"
    assert slugify("Bjørnøya på Svalbard") == "bjornoya-pa-svalbard"
    assert slugify("___") == "article"
