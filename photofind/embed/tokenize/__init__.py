"""Text tokenizers that give exactly open_clip's token ids without torch or open_clip.

A cold text query (search from the command line, the first query after start-up) should not
pay for importing open_clip and torch (~2 s) just to turn a few words into ids for the ONNX
text graph. This package reproduces open_clip's two common tokenizers on numpy alone:

* ``ClipBpeTokenizer``: open_clip's ``SimpleTokenizer`` (CLIP's byte-level BPE, used by
  ViT-B-32 and most open_clip models). A port of open_clip/tokenizer.py (open_clip 3.3,
  MIT License, itself copied from OpenAI's CLIP, MIT License, Copyright (c) 2021 OpenAI).
* ``HfTokenizer``: open_clip's ``HFTokenizer`` (text towers that are Hugging Face models),
  run on the folder's ``tokenizer.json`` with the Rust ``tokenizers`` package, configured the
  way ``transformers`` configures it, so ``transformers`` is not imported either.

``describe_open_clip_tokenizer`` turns a live open_clip tokenizer (where open_clip is loaded
anyway, e.g. while indexing) into a small JSON-able dict; ``from_description`` rebuilds the
torch-free twin from it on the cold path. A tokenizer this package cannot reproduce exactly
raises ``NotImplementedError`` when described, and the caller keeps using open_clip.
"""

from __future__ import annotations

from photofind.embed.tokenize.base import (
    CLEAN_MODES,
    CLIP_BPE,
    DEFAULT_CONTEXT_LENGTH,
    HF_TOKENIZERS,
    TextTokenizer,
)
from photofind.embed.tokenize.clip_bpe import (
    CLIP_BPE_FILE,
    ClipBpeTokenizer,
    bytes_to_unicode,
    default_bpe_path,
)
from photofind.embed.tokenize.hf import HfTokenizer
from photofind.embed.tokenize.twins import describe_open_clip_tokenizer

__all__ = ["CLEAN_MODES", "CLIP_BPE", "CLIP_BPE_FILE", "DEFAULT_CONTEXT_LENGTH", "HF_TOKENIZERS",
           "ClipBpeTokenizer", "HfTokenizer", "TextTokenizer", "bytes_to_unicode",
           "default_bpe_path", "describe_open_clip_tokenizer", "from_description"]


def from_description(desc: dict) -> TextTokenizer:
    """Rebuild the tokenizer that ``describe`` (or ``describe_open_clip_tokenizer``) wrote."""
    options = {k: v for k, v in desc.items() if k != "kind"}
    if desc.get("kind") == CLIP_BPE:
        return ClipBpeTokenizer(**options)
    if desc.get("kind") == HF_TOKENIZERS:
        return HfTokenizer(**options)
    raise ValueError(f"Unknown tokenizer kind {desc.get('kind')!r}")
