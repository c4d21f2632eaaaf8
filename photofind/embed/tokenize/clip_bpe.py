"""open_clip's ``SimpleTokenizer`` (CLIP's byte-level BPE) on numpy alone. A port of
open_clip/tokenizer.py (open_clip 3.3, MIT License, itself copied from OpenAI's CLIP, MIT
License, Copyright (c) 2021 OpenAI)."""

from __future__ import annotations

import os
import re
import zlib
from functools import lru_cache

import numpy as np

from photofind.embed.tokenize.base import (
    CLEAN_MODES,
    CLIP_BPE,
    DEFAULT_CONTEXT_LENGTH,
    TextTokenizer,
    clean_text,
)

CLIP_BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"
# CLIP uses the first 49152 - 256 - 2 merges of the file (after its header line): the vocab
# is 256 bytes, the same 256 with "</w>", one token per merge, then the special tokens.
_MERGES = 49152 - 256 - 2
SOT, EOT = "<start_of_text>", "<end_of_text>"
SPLIT = r"""|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
# The same split for ASCII text, without the `regex` module (see BpeTables.split)
# (`regex`'s \s is Unicode White_Space: in ASCII \t-\r and space, not \x1c-\x1f as in `re`)
ASCII_SPLIT = r"""|'s|'t|'re|'ve|'m|'ll|'d|[a-z]+|[0-9]|[^\t\n\x0b\x0c\r a-z0-9]+"""


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


class BpeTables:
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
        if text.isascii() and self.specials == (SOT, EOT):
            if self.ascii_split is None:
                self.ascii_split = re.compile(
                    "|".join(self.specials) + ASCII_SPLIT, re.IGNORECASE)
            return self.ascii_split.findall(text)
        if self.unicode_split is None:
            import regex

            self.unicode_split = regex.compile("|".join(self.specials) + SPLIT,
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
def _tables(path: str, specials: tuple[str, ...]) -> BpeTables:
    return BpeTables(path, specials)


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
    def tables(self) -> BpeTables:
        return _tables(self.bpe_path, (SOT, EOT, *self.additional_special_tokens))

    def encode(self, text: str) -> list[int]:
        """Ids of one text without <sot>/<eot> (open_clip's ``SimpleTokenizer.encode``)."""
        tables = self.tables
        ids: list[int] = []
        for piece in tables.split(clean_text(text, self.clean)):
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
