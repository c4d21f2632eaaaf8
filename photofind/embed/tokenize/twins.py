"""``describe_open_clip_tokenizer``: the torch-free twin of a live open_clip tokenizer, checked
against it on probe strings, as a JSON-able description (or NotImplementedError)."""

from __future__ import annotations

import os

import numpy as np

from photofind.embed.tokenize.base import CLEAN_MODES, DEFAULT_CONTEXT_LENGTH
from photofind.embed.tokenize.clip_bpe import EOT, SOT, ClipBpeTokenizer
from photofind.embed.tokenize.hf import HfTokenizer

# Strings open_clip's tokenizer and the twin must agree on before a description is handed out:
# truncation, case, accents, entities, a non-Latin script.
_PROBES = ["a photo of a dog", "", "Two DOGS play   on the BEACH.\n", "Café &amp; crème brûlée",
           "犬と猫 😀 собака", " ".join(["a very long caption about a dog"] * 30)]


def describe_open_clip_tokenizer(tok) -> dict:
    """Description of a live open_clip tokenizer for ``from_description``.

    Raises NotImplementedError for what this package does not reproduce (SigLIP, subclasses,
    reduction masks, custom BPE files, HF "clips" mode, HF tokenizers transformers altered on
    load): the caller then keeps open_clip's tokenizer. Before returning, the twin must give
    open_clip's ids on a few probe strings. Imports nothing heavy itself.
    """
    cls = type(tok)
    if cls.__module__ != "open_clip.tokenizer":
        raise NotImplementedError(f"{cls.__module__}.{cls.__qualname__} is not supported")
    if cls.__name__ == "SimpleTokenizer":
        twin = _clip_twin(tok)
    elif cls.__name__ == "HFTokenizer":
        twin = _hf_twin(tok)
    else:
        raise NotImplementedError(f"open_clip {cls.__name__} is not supported")
    length = tok.context_length or DEFAULT_CONTEXT_LENGTH
    for probe_length in (length, 8):
        expected = np.asarray(tok(_PROBES, context_length=probe_length), dtype=np.int64)
        if not np.array_equal(twin(_PROBES, context_length=probe_length), expected):
            raise NotImplementedError(f"{cls.__name__}: torch-free ids differ from open_clip's")
    return twin.describe()


def _clean_mode(tok) -> str:
    """Which of open_clip's clean functions the tokenizer holds (by identity)."""
    import sys

    module = sys.modules[type(tok).__module__]
    for mode in CLEAN_MODES:
        if tok.clean_fn is getattr(module, f"_clean_{mode}", None):
            return mode
    raise NotImplementedError(f"unknown clean function {tok.clean_fn!r}")


def _clip_twin(tok) -> ClipBpeTokenizer:
    import sys

    if getattr(tok, "reduction_fn", None) is not None:
        raise NotImplementedError("reduction_mask tokenization is random; not reproduced")
    specials = [tok.decoder[i] for i in tok.all_special_ids]
    if specials[:2] != [SOT, EOT]:
        raise NotImplementedError(f"unexpected special tokens {specials[:2]}")
    twin = ClipBpeTokenizer(sys.modules[type(tok).__module__].default_bpe(),
                            context_length=tok.context_length, clean=_clean_mode(tok),
                            additional_special_tokens=specials[2:])
    tables = twin.tables  # SimpleTokenizer does not keep its path: compare the vocab itself
    encoder = tables.encoder()
    same = len(encoder) == len(tables.lines) + 512 + len(specials) and tok.encoder == encoder \
        and len(tok.bpe_ranks) == len(tables.ranks) \
        and all(tables.ranks.get(" ".join(pair)) == rank for pair, rank in tok.bpe_ranks.items())
    if not same:
        raise NotImplementedError("SimpleTokenizer with a custom BPE vocab is not supported")
    return twin


def _hf_twin(tok) -> HfTokenizer:
    from tokenizers import Tokenizer

    if getattr(tok, "tokenizer_mode", ""):
        raise NotImplementedError(f"HFTokenizer mode {tok.tokenizer_mode!r} is not supported")
    hf = tok.tokenizer
    backend = getattr(hf, "backend_tokenizer", None)
    if not isinstance(backend, Tokenizer):
        raise NotImplementedError(f"{type(hf).__name__} has no Rust tokenizers backend")
    if hf.pad_token_id is None:
        raise NotImplementedError(f"{type(hf).__name__} has no padding token")
    path = _tokenizer_json(hf)
    live = _pipeline(backend)
    twin = HfTokenizer(path, context_length=tok.context_length, clean=_clean_mode(tok),
                       strip_sep_token=bool(tok.strip_sep_token),
                       sep_token_id=hf.sep_token_id, pad_id=hf.pad_token_id,
                       pad_token=str(hf.pad_token), pad_type_id=hf.pad_token_type_id,
                       padding_side=hf.padding_side, truncation_side=hf.truncation_side,
                       split_special_tokens=bool(getattr(hf, "split_special_tokens", False)),
                       overrides=_overrides(_pipeline(Tokenizer.from_file(path)), live))
    if _pipeline(twin.backend(twin.context_length or DEFAULT_CONTEXT_LENGTH)) != live:
        raise NotImplementedError(f"cannot rebuild the tokenizer transformers made of {path}")
    return twin


def _pipeline(backend) -> dict:
    """A tokenizers.Tokenizer's configuration, less the per-call truncation and padding."""
    import json

    return {k: v for k, v in json.loads(backend.to_str()).items()
            if k not in ("truncation", "padding")}


def _overrides(on_disk: dict, live: dict) -> dict:
    """The parts of tokenizer.json transformers replaced on load (its tokenizer classes
    rebuild e.g. BERT's post-processor); a different vocab ("model") is not carried over."""
    changed = {k: v for k, v in live.items() if on_disk.get(k) != v}
    if "model" in changed or set(on_disk) - set(live):
        raise NotImplementedError("transformers changed the tokenizer's vocab when loading it")
    return changed


def _tokenizer_json(hf) -> str:
    """Absolute path of the tokenizer.json a transformers tokenizer was loaded from."""
    source = str(getattr(hf, "name_or_path", "") or "")
    candidate = hf.init_kwargs.get("tokenizer_file") if hasattr(hf, "init_kwargs") else None
    if not candidate and os.path.isdir(source):
        candidate = os.path.join(source, "tokenizer.json")
    if not candidate and source:  # a hub id: the cached copy, without touching the network
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(source, "tokenizer.json")
        candidate = found if isinstance(found, str) else None
    if not candidate or not os.path.isfile(candidate):
        raise NotImplementedError(f"no tokenizer.json found for {source!r}")
    return os.path.abspath(candidate)
