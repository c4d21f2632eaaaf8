"""What every tokenizer here shares: the interface the query path calls, and open_clip's text
cleaning (``lower``, ``whitespace``, ``canonicalize``) that runs before either tokenizer."""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

CLIP_BPE = "clip_bpe"
HF_TOKENIZERS = "hf_tokenizers"
DEFAULT_CONTEXT_LENGTH = 77  # open_clip's default (OpenAI CLIP)
CLEAN_MODES = ("lower", "whitespace", "canonicalize")

# Not in text that ftfy and html.unescape leave alone (printable ASCII, tab, newline, no "&");
# see _basic_clean.
NOT_PLAIN = re.compile(r"[^\t\n\x20-\x25\x27-\x7e]")


class TextTokenizer:
    """What the query path needs from a tokenizer: texts in, open_clip's int64 ids out."""

    kind = ""
    context_length: int | None = None

    def __call__(self, texts: list[str] | str, context_length: int | None = None) -> np.ndarray:
        """int64 N×L ids, exactly what open_clip's tokenizer returns (as numpy), incl.
        start/end tokens, truncation and padding to ``context_length``."""
        if isinstance(texts, str):
            texts = [texts]
        length = context_length or self.context_length
        if not length:
            raise ValueError("Please set a valid context length")
        return self._encode(list(texts), int(length))

    def _encode(self, texts: list[str], length: int) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict:
        """JSON-able description, enough for ``from_description`` to rebuild it."""
        raise NotImplementedError


def _basic_clean(text: str) -> str:
    """open_clip's basic_clean: ftfy.fix_text, html.unescape twice, strip.

    ftfy costs ~60 ms to import, more than the rest of a cold query. Printable ASCII with
    tab/newline and no "&" is left untouched by every ftfy fixer (no mojibake, entities,
    controls, terminal escapes, CR, ligatures, wide forms or curly quotes can occur) and by
    html.unescape, so such text skips both; anything else goes through the real thing.
    """
    if NOT_PLAIN.search(text) is None:
        return text.strip()
    import html

    import ftfy

    return html.unescape(html.unescape(ftfy.fix_text(text))).strip()


def _whitespace_clean(text: str) -> str:
    return " ".join(text.split()).strip()


@lru_cache
def _punctuation_table() -> dict[int, None]:
    import string

    return str.maketrans("", "", string.punctuation)


def _canonicalize(text: str) -> str:
    """open_clip's canonicalize_text (from big_vision): no punctuation, lower case."""
    text = text.replace("_", " ").translate(_punctuation_table()).lower()
    return " ".join(text.split()).strip()


def clean_text(text: str, mode: str) -> str:
    """open_clip's clean functions ``lower`` / ``whitespace`` / ``canonicalize``."""
    text = _basic_clean(text)
    if mode == "canonicalize":
        return _canonicalize(text)
    text = _whitespace_clean(text)
    return text.lower() if mode == "lower" else text
