"""Text cleaning and folding shared by build time and query time.

`clean_text` is how stored articles and questions are normalised (every offset points into
its output). The folds are how text is compared, never stored: `fold` for single words
(NFC, then Unicode case folding), `fold_spaces` for passages (the same, with whitespace runs
made one space) and `fold_words` for comparing replies word by word (the same, with every
character that is not a letter or digit made a space).
"""

from __future__ import annotations

import re
import unicodedata

# Characters that must never reach the embedder, Chroma or a prompt: C0/C1 controls other
# than tab and newline, zero-width and joiner characters, bidi controls, the BOM anywhere,
# soft hyphen and Unicode tag characters (used to smuggle hidden instructions).
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u2069\ufeff\ufff9-\ufffb\U000e0000-\U000e007f]"
)


def clean_text(text: str) -> str:
    """Normalise text the way stored articles and questions are: NFC, "\\n" line ends,
    no invisible or control characters (tabs become spaces)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n")
    text = _INVISIBLE.sub("", text)
    return unicodedata.normalize("NFC", text)


def fold(text: str) -> str:
    """How every word is compared with the word lists: NFC, then case folding."""
    return unicodedata.normalize("NFC", text).casefold()


def fold_spaces(text: str) -> str:
    """`fold`, with whitespace runs made one space and the ends stripped: how passages
    (an eval item's evidence, a sentence) are compared."""
    return " ".join(fold(text).split())


def fold_words(text: str) -> str:
    """`fold`, with every character that is not a letter or digit made a space, then
    `fold_spaces`: the words of a text, in order, whatever the punctuation."""
    return " ".join("".join(ch if ch.isalnum() else " " for ch in fold(text)).split())
