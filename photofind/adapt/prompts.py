"""Trainable prompts on a frozen open_clip model (Zhang et al. 2024; CoOp; VPT; CLIP-Adapter).

* ``TextPrompt``: ``n_ctx`` vectors inserted after the start token of every query, plus one
  learned word per personal concept; works for open_clip's own text transformer and for its
  Hugging Face text towers.
* ``VisualPrompt``: for an open_clip ``VisionTransformer``, tokens inserted after the class
  token at block ``depth`` (VPT; a late block keeps CPU training cheap because everything
  before it is frozen and cached once per photo); for any other tower a learnable pixel border.
* ``ImageAdapter``: a residual bottleneck MLP on the final image embedding (CLIP-Adapter).

The backbone's own parameters never change; only these modules hold trainable tensors.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from photofind.embed.text import text_tower


class TextPrompt(nn.Module):
    def __init__(self, model: nn.Module, tokenizer, n_ctx: int = 8,
                 init_phrase: str = "a photo of"):
        super().__init__()
        self.tower = text_tower(model, tokenizer)
        self.n_ctx = n_ctx
        init = self.tower.word_vectors(init_phrase)[:n_ctx]
        extra = torch.randn(n_ctx - len(init), init.shape[1]) * init.std() if \
            n_ctx > len(init) else init[:0]
        self.ctx = nn.Parameter(torch.cat([init, extra]).clone())
        self.concepts = nn.ParameterDict()  # concept key → its learned word vector
        self.vocabulary = ConceptVocabulary()
        self.placeholder, self.placeholder_id = _placeholder(self.tower)

    def add_concept(self, key: str, names: list[str]) -> None:
        """A new learned word, initialised from the words of its own name."""
        words = [self.tower.word_vectors(name) for name in names]
        words = torch.cat([w for w in words if len(w)] or [self.ctx.detach()[:1]])
        self.concepts[key] = nn.Parameter(words.mean(dim=0).clone())
        self.vocabulary.add(key, names)

    def remove_concept(self, key: str) -> None:
        """Forget a learned word: its name is read as ordinary words again."""
        del self.concepts[key]
        self.vocabulary.remove(key)

    def forward(self, texts: list[str], with_tokens: bool = False):
        """Unnormalised text features; concept names in the texts use their learned words.
        ``with_tokens`` also returns the per-token features and their mask (reranker)."""
        return self.tower.encode(*self._inputs(texts), with_tokens)

    def embed(self, texts: list[str]):
        """(token embeddings with the learned words in place, mask): the input of the
        frozen tower, e.g. of its exported text graph."""
        return self.tower.embed(*self._inputs(texts))

    def _inputs(self, texts: list[str]):
        texts, found = self.vocabulary.substitute(texts, self.placeholder)
        rows = [[self.concepts[key] for key in keys] for keys in found] if any(found) else None
        return (texts, self.ctx if self.n_ctx else None,
                (self.placeholder_id, rows) if rows else None)


class ConceptVocabulary:
    """Finds concept names in queries: case-insensitive, whole words, longest name first."""

    def __init__(self):
        self.names: dict[str, str] = {}  # casefolded surface name → concept key
        self._pattern: re.Pattern | None = None

    def add(self, key: str, names: list[str]) -> None:
        for name in names:
            if name.strip():
                self.names[" ".join(name.casefold().split())] = key
        alternatives = sorted(self.names, key=len, reverse=True)
        self._pattern = re.compile(
            r"(?<!\w)(" + "|".join(r"\s+".join(map(re.escape, n.split())) for n in alternatives)
            + r")(?!\w)", re.IGNORECASE) if alternatives else None

    def remove(self, key: str) -> None:
        names = [name for name, owner in self.names.items() if owner == key]
        for name in names:
            del self.names[name]
        self.add(key, [])  # rebuild the pattern

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, concept key) of every concept mention, left to right."""
        if self._pattern is None:
            return []
        return [(m.start(), m.end(), self.names[" ".join(m.group(0).casefold().split())])
                for m in self._pattern.finditer(text)]

    def substitute(self, texts: list[str], placeholder: str
                   ) -> tuple[list[str], list[list[str]]]:
        out, keys = [], []
        for text in texts:
            spans = self.find(text)
            for start, end, _ in reversed(spans):
                text = text[:start] + placeholder + text[end:]
            out.append(text)
            keys.append([key for _, _, key in spans])
        return out, keys


_PLACEHOLDERS = ("sks", "[MASK]", "<mask>", "zxcv")


def _placeholder(tower) -> tuple[str, int]:
    """A word the tokenizer keeps as one rare token: concept mentions become it, then its
    embedding is swapped for the concept's learned vector."""
    unknown = getattr(getattr(tower.tokenizer, "tokenizer", None), "unk_token_id", None)
    for word in _PLACEHOLDERS:
        ids = tower.token_ids(word)
        if len(ids) == 1 and ids[0] != unknown:
            return word, ids[0]
    raise NotImplementedError("no single-token placeholder word for this tokenizer")


class VisualPrompt(nn.Module):
    """Splits the image tower at the prompt: ``front`` (frozen, cacheable) and ``back``."""

    def __init__(self, visual: nn.Module, n_tokens: int = 8, depth: int | None = None,
                 pad: int = 16, image_size: int = 224):
        super().__init__()
        self.visual = [visual]  # a list: keep the frozen tower out of this module's params
        self.is_vit = is_vit(visual)
        if self.is_vit:
            blocks = len(visual.transformer.resblocks)
            self.depth = blocks - 1 if depth is None else max(0, min(depth, blocks))
            width = visual.class_embedding.shape[-1]
            self.tokens = nn.Parameter(torch.randn(n_tokens, width) * 0.02)
        else:
            self.depth, self.pad = 0, pad
            self.border = nn.Parameter(torch.zeros(3, image_size, image_size))
            mask = torch.ones(1, image_size, image_size)
            mask[:, pad:image_size - pad, pad:image_size - pad] = 0
            self.register_buffer("mask", mask, persistent=False)

    @property
    def kind(self) -> str:
        return "vpt" if self.is_vit else "pixel"

    def front(self, pixels: torch.Tensor) -> torch.Tensor:
        """The prompt-independent part of the forward pass (cache it per photo)."""
        if not self.is_vit:
            return pixels
        visual = self.visual[0]
        x = visual._embeds(pixels)
        return _run_blocks(visual.transformer, x, 0, self.depth)

    def back(self, cached: torch.Tensor) -> torch.Tensor:
        visual = self.visual[0]
        if not self.is_vit:  # channels-last input: ~1.4x faster CNN training on CPU
            prompted = cached + self.mask * self.border.to(cached.dtype)
            return visual(prompted.contiguous(memory_format=torch.channels_last))
        pooled, _ = visual._pool(self.extend(cached))
        return pooled @ visual.proj if visual.proj is not None else pooled

    def extend(self, cached: torch.Tensor) -> torch.Tensor:
        """The remaining blocks with the prompt tokens; their outputs are dropped (VPT)."""
        x = cached.to(self.tokens.dtype)
        n = self.tokens.shape[0]
        x = torch.cat([x[:, :1], self.tokens.expand(x.shape[0], -1, -1), x[:, 1:]], dim=1)
        x = _run_blocks(self.visual[0].transformer, x, self.depth, None)
        return torch.cat([x[:, :1], x[:, 1 + n:]], dim=1)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.back(self.front(pixels))


def is_vit(visual: nn.Module) -> bool:
    """An open_clip VisionTransformer: visual tokens can enter at a late block."""
    return hasattr(visual, "class_embedding") and hasattr(visual, "transformer")


def _run_blocks(transformer: nn.Module, x: torch.Tensor, start: int, stop: int | None):
    batch_first = getattr(transformer, "batch_first", True)
    if not batch_first:
        x = x.transpose(0, 1)
    for block in transformer.resblocks[start:stop]:
        x = block(x)
    return x if batch_first else x.transpose(0, 1)


class ImageAdapter(nn.Module):
    """CLIP-Adapter (Gao et al. 2021): f' = norm(α·g(f) + (1-α)·f). The last layer starts at
    zero so an untrained adapter is exactly the zero-shot embedding (hence no ReLU after it:
    ReLU(0) passes no gradient, and the adapter would never move)."""

    def __init__(self, dim: int, reduction: int = 4, alpha: float = 0.2):
        super().__init__()
        self.alpha = alpha
        self.mlp = nn.Sequential(nn.Linear(dim, dim // reduction, bias=False), nn.ReLU(),
                                 nn.Linear(dim // reduction, dim, bias=False))
        nn.init.zeros_(self.mlp[2].weight)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        features = F.normalize(features, dim=-1)
        return self.alpha * self.mlp(features) + (1 - self.alpha) * features
