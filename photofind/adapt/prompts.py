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

    def forward(self, texts: list[str], with_tokens: bool = False):
        """Unnormalised text features; concept names in the texts use their learned words.
        ``with_tokens`` also returns the per-token features and their mask (reranker)."""
        texts, found = self.vocabulary.substitute(texts, self.placeholder)
        rows = [[self.concepts[key] for key in keys] for keys in found] if any(found) else None
        return self.tower.encode(texts, self.ctx if self.n_ctx else None,
                                 (self.placeholder_id, rows) if rows else None, with_tokens)


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


def text_tower(model: nn.Module, tokenizer):
    text = getattr(model, "text", None)
    if text is not None and hasattr(text, "transformer") and hasattr(text, "pooler"):
        return _HFText(text, tokenizer)
    source = text if text is not None and hasattr(text, "token_embedding") else model
    if not hasattr(source, "token_embedding"):
        raise NotImplementedError(f"No prompt support for text tower {type(text).__name__}")
    return _OpenClipText(source, tokenizer)


def encode_frozen_text(model: nn.Module, tokenizer, texts: list[str]) -> torch.Tensor:
    """``model.encode_text`` (unnormalised) with padding columns trimmed: the tokenizer pads
    every text to the context length (77 for CLIP), and on CPU a short query then costs ~4×
    what it needs to."""
    try:
        tower = text_tower(model, tokenizer)
    except NotImplementedError:
        device = next(model.parameters()).device
        return model.encode_text(tokenizer(list(texts)).to(device))
    return tower.encode(list(texts), None, None)


class _OpenClipText:
    """open_clip's causal text transformer (the CLIP class itself, or a TextTransformer)."""

    def __init__(self, source: nn.Module, tokenizer):
        if getattr(source, "cls_emb", None) is not None:
            raise NotImplementedError("text towers with a class token (CoCa) are not supported")
        self.m, self.tokenizer = source, tokenizer
        self.context_length = int(source.positional_embedding.shape[0])
        self.pool_type = getattr(source, "text_pool_type", getattr(source, "pool_type", "argmax"))
        self.eos_id = getattr(source, "text_eos_id", getattr(source, "eos_id", None))

    def token_ids(self, phrase: str) -> list[int]:
        tokens = self.tokenizer([phrase])[0]
        return [int(t) for t in tokens[1:] if int(t) != 0][:-1]  # drop start, end, padding

    def word_vectors(self, phrase: str) -> torch.Tensor:
        return self.m.token_embedding.weight[self.token_ids(phrase)].detach().float().cpu()

    def encode(self, texts, ctx, concepts, with_tokens: bool = False):
        device = self.m.token_embedding.weight.device
        n_ctx = 0 if ctx is None else ctx.shape[0]
        tokens = _trim(self.tokenizer(list(texts), context_length=self.context_length - n_ctx))
        tokens = tokens.to(device)
        x = _with_concepts(self.m.token_embedding(tokens), tokens, concepts)
        if n_ctx:
            batch = len(texts)
            x = torch.cat([x[:, :1], ctx.to(x.dtype).expand(batch, -1, -1), x[:, 1:]], dim=1)
            tokens = torch.cat([tokens[:, :1], tokens.new_zeros(batch, n_ctx), tokens[:, 1:]], 1)
        length = x.shape[1]
        x = x + self.m.positional_embedding[:length].to(x.dtype)
        mask = self.m.attn_mask
        x = self.m.transformer(x, attn_mask=None if mask is None else mask[:length, :length])
        x = self.m.ln_final(x)
        from open_clip.transformer import text_global_pool

        pooled = self._project(text_global_pool(x, tokens, self.pool_type,
                                                eos_token_id=self.eos_id))
        if not with_tokens:
            return pooled
        last = tokens.argmax(dim=-1) if self.pool_type == "argmax" else \
            (tokens != 0).sum(dim=1) - 1
        mask = torch.arange(x.shape[1], device=x.device)[None] <= last[:, None]
        return pooled, self._project(x), mask  # tokens in the joint space too (reranker)

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        projection = self.m.text_projection
        if projection is None:
            return x
        return projection(x) if isinstance(projection, nn.Module) else x @ projection


class _HFText:
    """open_clip's Hugging Face text tower (e.g. BERT/MiniLM with mean pooling)."""

    def __init__(self, tower: nn.Module, tokenizer):
        self.m, self.tokenizer = tower, tokenizer
        self.context_length = int(getattr(tokenizer, "context_length", 0) or
                                  tower.config.max_position_embeddings)
        self.pad_id = tower.config.pad_token_id or 0

    def _embedding(self) -> nn.Embedding:
        return self.m.transformer.get_input_embeddings()

    def token_ids(self, phrase: str) -> list[int]:
        ids = self.tokenizer([phrase])[0]
        return [int(t) for t in ids[1:] if int(t) != self.pad_id][:-1]  # drop [CLS], [SEP], pad

    def word_vectors(self, phrase: str) -> torch.Tensor:
        return self._embedding().weight[self.token_ids(phrase)].detach().float().cpu()

    def encode(self, texts, ctx, concepts, with_tokens: bool = False):
        device = self._embedding().weight.device
        n_ctx = 0 if ctx is None else ctx.shape[0]
        ids = _trim(self.tokenizer(list(texts), context_length=self.context_length - n_ctx),
                    self.pad_id).to(device)
        mask = (ids != self.pad_id).long()
        x = _with_concepts(self._embedding()(ids), ids, concepts)
        if n_ctx:
            batch = len(texts)
            x = torch.cat([x[:, :1], ctx.to(x.dtype).expand(batch, -1, -1), x[:, 1:]], dim=1)
            mask = torch.cat([mask[:, :1], mask.new_ones(batch, n_ctx), mask[:, 1:]], dim=1)
        out = self.m.transformer(inputs_embeds=x, attention_mask=mask)
        pooled = self.m.proj(self.m.pooler(out, mask))
        if not with_tokens:
            return pooled
        return pooled, self.m.proj(out.last_hidden_state), mask.bool()  # joint-space tokens


def _trim(tokens: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
    """Drop padding columns every row has: exact (causal or masked attention), and on CPU the
    cost of a text forward falls with the sequence length."""
    used = (tokens != pad_id).any(dim=0).nonzero()
    return tokens[:, : int(used.max()) + 1] if len(used) else tokens


def _with_concepts(x, tokens, concepts):
    """Put each row's concept vectors where its placeholder tokens are, in order."""
    if not concepts:
        return x
    placeholder_id, rows = concepts
    row_index, positions, vectors = [], [], []
    for row, row_vectors in enumerate(rows):
        slots = (tokens[row] == placeholder_id).nonzero().flatten().tolist()
        for slot, vector in zip(slots, row_vectors):
            row_index.append(row)
            positions.append(slot)
            vectors.append(vector)
    if not vectors:
        return x
    index = (torch.tensor(row_index, device=x.device), torch.tensor(positions, device=x.device))
    return x.index_put(index, torch.stack(vectors).to(x.dtype))


class VisualPrompt(nn.Module):
    """Splits the image tower at the prompt: ``front`` (frozen, cacheable) and ``back``."""

    def __init__(self, visual: nn.Module, n_tokens: int = 8, depth: int | None = None,
                 pad: int = 16, image_size: int = 224):
        super().__init__()
        self.visual = [visual]  # a list: keep the frozen tower out of this module's params
        self.is_vit = hasattr(visual, "class_embedding") and hasattr(visual, "transformer")
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
        x = torch.cat([x[:, :1], self.tokens.expand(len(x), -1, -1), x[:, 1:]], dim=1)
        x = _run_blocks(self.visual[0].transformer, x, self.depth, None)
        return torch.cat([x[:, :1], x[:, 1 + n:]], dim=1)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.back(self.front(pixels))


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
