"""Text tokenizers that give exactly open_clip's token ids without torch or open_clip.

A cold text query (search from the command line, the first query after start-up) should not
pay for importing open_clip and torch (~2 s) just to turn a few words into ids for the ONNX
text graph. This module reproduces open_clip's two common tokenizers on numpy alone:

* ``ClipBpeTokenizer``: open_clip's ``SimpleTokenizer`` (CLIP's byte-level BPE, used by
  ViT-B-32 and most open_clip models). A port of open_clip/tokenizer.py (open_clip 3.3,
  MIT License, itself copied from OpenAI's CLIP, MIT License, Copyright (c) 2021 OpenAI).
* ``HfTokenizer``: open_clip's ``HFTokenizer`` (text towers that are Hugging Face models),
  run on the folder's ``tokenizer.json`` with the Rust ``tokenizers`` package, configured the
  way ``transformers`` configures it, so ``transformers`` is not imported either.

``describe_open_clip_tokenizer`` turns a live open_clip tokenizer (where open_clip is loaded
anyway, e.g. while indexing) into a small JSON-able dict; ``from_description`` rebuilds the
torch-free twin from it on the cold path. A tokenizer this module cannot reproduce exactly
raises ``NotImplementedError`` when described, and the caller keeps using open_clip.
"""

from __future__ import annotations

import os
import re
import zlib
from functools import lru_cache

import numpy as np

CLIP_BPE = "clip_bpe"
HF_TOKENIZERS = "hf_tokenizers"
DEFAULT_CONTEXT_LENGTH = 77  # open_clip's default (OpenAI CLIP)
CLIP_BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"
CLEAN_MODES = ("lower", "whitespace", "canonicalize")

# CLIP uses the first 49152 - 256 - 2 merges of the file (after its header line): the vocab
# is 256 bytes, the same 256 with "</w>", one token per merge, then the special tokens.
_MERGES = 49152 - 256 - 2
_SOT, _EOT = "<start_of_text>", "<end_of_text>"
_SPLIT = r"""|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
# The same split for ASCII text, without the `regex` module (see _BpeTables.split)
# (`regex`'s \s is Unicode White_Space: in ASCII \t-\r and space, not \x1c-\x1f as in `re`)
_ASCII_SPLIT = r"""|'s|'t|'re|'ve|'m|'ll|'d|[a-z]+|[0-9]|[^\t\n\x0b\x0c\r a-z0-9]+"""
# Not in text that ftfy and html.unescape leave alone (printable ASCII, tab, newline, no "&");
# see _basic_clean.
_NOT_PLAIN = re.compile(r"[^\t\n\x20-\x25\x27-\x7e]")


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


# --- CLIP byte-level BPE (open_clip's SimpleTokenizer) -------------------------------------


def default_bpe_path() -> str:
    """open_clip's own vocab file, found without importing open_clip (that is the point)."""
    from importlib.util import find_spec

    spec = find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("open_clip is not installed: no CLIP BPE vocab file to read")
    return os.path.join(list(spec.submodule_search_locations)[0], CLIP_BPE_FILE)


@lru_cache
def bytes_to_unicode() -> dict[int, str]:
    """CLIP's reversible byte -> printable character map (as open_clip's): the BPE works on
    strings, and this keeps whitespace and control bytes out of the vocab."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars)))


def _read_merge_lines(path: str) -> list[str]:
    """The merges CLIP uses, one "first second" string each. Only the first ~640 KB of the
    3 MB file are decompressed: the rest are merges CLIP never uses."""
    inflate = zlib.decompressobj(wbits=31)  # gzip container
    chunks, lines = [], 0
    with open(path, "rb") as handle:
        while lines <= _MERGES:
            block = handle.read(1 << 16)
            if not block:
                break
            chunk = inflate.decompress(block)
            chunks.append(chunk)
            lines += chunk.count(b"\n")
    return b"".join(chunks).decode("utf-8").split("\n")[1:_MERGES + 1]


class _BpeTables:
    """The merges of one BPE file + special tokens, loaded once per process and shared.

    Loading is the main cost of a cold query, so it does the least open_clip's tables need:
    merge ranks are keyed by the file's own "first second" line (no split into tuples;
    symbols never contain a space), and no encoder dict is built. CLIP's vocab is the 256
    byte symbols, the same with "</w>", one symbol per merge, then the special tokens, so a
    merged symbol's id is 512 + its merge's rank. That holds while no two merges make the
    same string (true of CLIP's file); ``encoder()`` builds open_clip's dict so that
    ``describe_open_clip_tokenizer`` can check it.
    """

    def __init__(self, path: str, specials: tuple[str, ...]):
        self.lines = _read_merge_lines(path)
        self.ranks = dict(zip(self.lines, range(len(self.lines))))
        self.base_ids = {char: i for i, char in enumerate(_base_symbols())}
        self.specials = specials
        self.special_ids = [2 * 256 + len(self.lines) + i for i in range(len(specials))]
        # open_clip caches the BPE of each (byte-encoded) piece, seeded with the special
        # tokens so they map to themselves. Here the cache holds ids.
        self.cache = {t: [i] for t, i in zip(specials, self.special_ids)}
        self.unicode_split = None  # compiled on first non-ASCII text (imports `regex`)
        self.ascii_split = None

    def encoder(self) -> dict[str, int]:
        """open_clip's ``SimpleTokenizer.encoder`` for these merges (for checks only)."""
        vocab = [*_base_symbols(), *(m.replace(" ", "") for m in self.lines), *self.specials]
        return dict(zip(vocab, range(len(vocab))))

    def split(self, text: str) -> list[str]:
        """open_clip's regex split. On ASCII text \\p{L} and \\p{N} are [a-zA-Z] and [0-9], so
        the stdlib pattern finds the same pieces without importing `regex` (~20 ms)."""
        if text.isascii() and self.specials == (_SOT, _EOT):
            if self.ascii_split is None:
                self.ascii_split = re.compile(
                    "|".join(self.specials) + _ASCII_SPLIT, re.IGNORECASE)
            return self.ascii_split.findall(text)
        if self.unicode_split is None:
            import regex

            self.unicode_split = regex.compile("|".join(self.specials) + _SPLIT,
                                               regex.IGNORECASE)
        return self.unicode_split.findall(text)

    def piece_ids(self, piece: str) -> list[int]:
        """Ids of one split piece (byte-encoded, BPE-merged), cached like open_clip's."""
        token = piece.encode("utf-8").decode("latin-1").translate(bytes_to_unicode())
        ids = self.cache.get(token)
        if ids is None:
            ids = _bpe(token, self.ranks, self.base_ids)
            self.cache[token] = ids
        return ids


@lru_cache
def _base_symbols() -> list[str]:
    """The first 512 vocab entries: each byte symbol, then each with "</w>" (word end)."""
    chars = list(bytes_to_unicode().values())
    return [*chars, *(c + "</w>" for c in chars)]


@lru_cache(maxsize=8)
def _tables(path: str, specials: tuple[str, ...]) -> _BpeTables:
    return _BpeTables(path, specials)


def _bpe(token: str, ranks: dict[str, int], base_ids: dict[str, int]) -> list[int]:
    """Greedy BPE as open_clip's ``SimpleTokenizer.bpe``: merge the best-ranked adjacent pair
    everywhere (left to right) until no pair is in the merges; returns the symbols' ids."""
    word = [*token[:-1], token[-1] + "</w>"]
    ids = [base_ids[symbol] for symbol in word]
    while len(word) > 1:
        best, best_rank = -1, len(ranks)
        for i in range(len(word) - 1):
            rank = ranks.get(f"{word[i]} {word[i + 1]}", best_rank)
            if rank < best_rank:
                best, best_rank = i, rank
        if best < 0:
            break
        first, second = word[best], word[best + 1]
        merged, merged_ids, i = [], [], 0
        while i < len(word):
            if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                merged.append(first + second)
                merged_ids.append(2 * 256 + best_rank)
                i += 2
            else:
                merged.append(word[i])
                merged_ids.append(ids[i])
                i += 1
        word, ids = merged, merged_ids
    return ids


def _basic_clean(text: str) -> str:
    """open_clip's basic_clean: ftfy.fix_text, html.unescape twice, strip.

    ftfy costs ~60 ms to import, more than the rest of a cold query. Printable ASCII with
    tab/newline and no "&" is left untouched by every ftfy fixer (no mojibake, entities,
    controls, terminal escapes, CR, ligatures, wide forms or curly quotes can occur) and by
    html.unescape, so such text skips both; anything else goes through the real thing.
    """
    if _NOT_PLAIN.search(text) is None:
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


def _clean(text: str, mode: str) -> str:
    """open_clip's clean functions ``lower`` / ``whitespace`` / ``canonicalize``."""
    text = _basic_clean(text)
    if mode == "canonicalize":
        return _canonicalize(text)
    text = _whitespace_clean(text)
    return text.lower() if mode == "lower" else text


class ClipBpeTokenizer(TextTokenizer):
    """open_clip's ``SimpleTokenizer``: clean, split, byte-level BPE, <sot> ... <eot>,
    truncated so <eot> stays last, zero padded. The vocab loads on first use."""

    kind = CLIP_BPE

    def __init__(self, bpe_path: str | None = None,
                 context_length: int | None = DEFAULT_CONTEXT_LENGTH, clean: str = "lower",
                 additional_special_tokens: list[str] | None = None):
        if clean not in CLEAN_MODES:
            raise ValueError(f"Invalid clean function ({clean}).")
        self.bpe_path = os.path.abspath(bpe_path or default_bpe_path())
        self.context_length = context_length
        self.clean = clean
        self.additional_special_tokens = list(additional_special_tokens or [])

    @property
    def tables(self) -> _BpeTables:
        return _tables(self.bpe_path, (_SOT, _EOT, *self.additional_special_tokens))

    def encode(self, text: str) -> list[int]:
        """Ids of one text without <sot>/<eot> (open_clip's ``SimpleTokenizer.encode``)."""
        tables = self.tables
        ids: list[int] = []
        for piece in tables.split(_clean(text, self.clean)):
            ids.extend(tables.piece_ids(piece))
        return ids

    def _encode(self, texts: list[str], length: int) -> np.ndarray:
        sot, eot = self.tables.special_ids[:2]
        result = np.zeros((len(texts), length), dtype=np.int64)
        for row, text in enumerate(texts):
            ids = [sot, *self.encode(text), eot]
            if len(ids) > length:
                ids = ids[:length]
                ids[-1] = eot
            result[row, :len(ids)] = ids
        return result

    def describe(self) -> dict:
        return {"kind": self.kind, "bpe_path": self.bpe_path,
                "context_length": self.context_length, "clean": self.clean,
                "additional_special_tokens": list(self.additional_special_tokens)}


# --- Hugging Face tokenizers (open_clip's HFTokenizer) --------------------------------------


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
        cleaned = [_clean(text, self.clean) for text in texts]
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


# --- descriptions ---------------------------------------------------------------------------


def from_description(desc: dict) -> TextTokenizer:
    """Rebuild the tokenizer that ``describe`` (or ``describe_open_clip_tokenizer``) wrote."""
    options = {k: v for k, v in desc.items() if k != "kind"}
    if desc.get("kind") == CLIP_BPE:
        return ClipBpeTokenizer(**options)
    if desc.get("kind") == HF_TOKENIZERS:
        return HfTokenizer(**options)
    raise ValueError(f"Unknown tokenizer kind {desc.get('kind')!r}")


# Strings open_clip's tokenizer and the twin must agree on before a description is handed out:
# truncation, case, accents, entities, a non-Latin script.
_PROBES = ["a photo of a dog", "", "Two DOGS play   on the BEACH.\n", "Café &amp; crème brûlée",
           "犬と猫 😀 собака", " ".join(["a very long caption about a dog"] * 30)]


def describe_open_clip_tokenizer(tok) -> dict:
    """Description of a live open_clip tokenizer for ``from_description``.

    Raises NotImplementedError for what this module does not reproduce (SigLIP, subclasses,
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
    if specials[:2] != [_SOT, _EOT]:
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
