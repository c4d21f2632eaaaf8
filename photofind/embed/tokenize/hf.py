"""open_clip's ``HFTokenizer`` (text towers that are Hugging Face models) on the Rust
``tokenizers`` package alone, configured the way ``transformers`` configures it."""

from __future__ import annotations

import os

import numpy as np

from photofind.embed.tokenize.base import (
    CLEAN_MODES,
    DEFAULT_CONTEXT_LENGTH,
    HF_TOKENIZERS,
    TextTokenizer,
    clean_text,
)


class HfTokenizer(TextTokenizer):
    """open_clip's ``HFTokenizer`` in its standard mode: clean (no lower-casing by default),
    then the fast tokenizer with special tokens, ``truncation=True`` and
    ``padding="max_length"`` at ``max_length=context_length``, optionally zeroing [SEP].

    The backend is configured as ``transformers`` configures it for that call (its
    ``set_truncation_and_padding``), so the Rust tokenizer alone gives the same ids.
    ``overrides`` replaces top-level parts of tokenizer.json (say the post-processor) that
    transformers rebuilds when it loads the folder, so the pipeline is the one it runs.
    """

    kind = HF_TOKENIZERS

    def __init__(self, tokenizer_file: str, context_length: int | None = DEFAULT_CONTEXT_LENGTH,
                 clean: str = "whitespace", strip_sep_token: bool = False,
                 sep_token_id: int | None = None, pad_id: int = 0, pad_token: str = "[PAD]",
                 pad_type_id: int = 0, padding_side: str = "right",
                 truncation_side: str = "right", split_special_tokens: bool = False,
                 overrides: dict | None = None):
        if clean not in CLEAN_MODES:
            raise ValueError(f"Invalid clean function ({clean}).")
        if strip_sep_token and sep_token_id is None:
            raise ValueError("strip_sep_token needs sep_token_id")
        self.tokenizer_file = os.path.abspath(tokenizer_file)
        self.context_length = context_length
        self.clean = clean
        self.strip_sep_token = strip_sep_token
        self.sep_token_id = sep_token_id
        self.padding = {"pad_id": pad_id, "pad_token": pad_token, "pad_type_id": pad_type_id,
                        "direction": padding_side}
        self.truncation_side = truncation_side
        self.split_special_tokens = split_special_tokens
        self.overrides = dict(overrides or {})
        self._backend = None
        self._length = None

    def backend(self, length: int):
        """The ``tokenizers.Tokenizer``, loaded on first use, set up for ``length``."""
        if self._backend is None:
            # as importing open_clip does: no Rust thread pool that a later fork could deadlock
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            from tokenizers import Tokenizer

            if self.overrides:
                import json

                with open(self.tokenizer_file, encoding="utf-8") as handle:
                    config = json.load(handle)
                self._backend = Tokenizer.from_str(json.dumps({**config, **self.overrides}))
            else:
                self._backend = Tokenizer.from_file(self.tokenizer_file)
            self._backend.encode_special_tokens = self.split_special_tokens
        if self._length != length:
            self._backend.enable_truncation(max_length=length, stride=0,
                                            strategy="longest_first",
                                            direction=self.truncation_side)
            self._backend.enable_padding(length=length, pad_to_multiple_of=None,
                                         **self.padding)
            self._length = length
        return self._backend

    def _encode(self, texts: list[str], length: int) -> np.ndarray:
        if not texts:
            return np.zeros((0, length), dtype=np.int64)
        cleaned = [clean_text(text, self.clean) for text in texts]
        encodings = self.backend(length).encode_batch(cleaned, add_special_tokens=True)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        if self.strip_sep_token:
            ids[ids == self.sep_token_id] = 0
        return ids

    def describe(self) -> dict:
        return {"kind": self.kind, "tokenizer_file": self.tokenizer_file,
                "context_length": self.context_length, "clean": self.clean,
                "strip_sep_token": self.strip_sep_token, "sep_token_id": self.sep_token_id,
                "pad_id": self.padding["pad_id"], "pad_token": self.padding["pad_token"],
                "pad_type_id": self.padding["pad_type_id"],
                "padding_side": self.padding["direction"],
                "truncation_side": self.truncation_side,
                "split_special_tokens": self.split_special_tokens,
                "overrides": dict(self.overrides)}
