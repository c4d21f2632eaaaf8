"""The re-ranker's cross-encoder head as torch modules: what adaptation trains. At query time
the same weights run in numpy (``photofind.search.rerank.CrossHead``), so a search never
imports torch; ``numpy_head`` hands a trained head over."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from photofind.search.rerank import VERSION, CrossHead


class CrossBlock(nn.Module):
    """Pre-norm cross-attention + MLP whose residual branches start at zero: an untrained
    block passes the words through unchanged."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm_q, self.norm_kv, self.norm_mlp = nn.LayerNorm(dim), nn.LayerNorm(dim), \
            nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        for last in (self.attention.out_proj, self.mlp[-1]):
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(self, query: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(image)
        query = query + self.attention(self.norm_q(query), kv, kv, need_weights=False)[0]
        return query + self.mlp(self.norm_mlp(query))


class CrossEncoder(nn.Module):
    """Words attend to the photo's 16 tokens; the score is how well each word finds its
    match, weighted by how much the word matters.

    Both sides arrive in the model's joint space (the text tower's token features through its
    own projection, the image tokens through the image projection), so an untrained head is
    already a zero-shot soft word-to-region matcher; training on a few thousand of the
    library's captions then only has to learn corrections, which a head learning alignment
    from scratch cannot do on so little data."""

    def __init__(self, dim: int, layers: int = 1, heads: int = 4, temperature: float = 10.0):
        super().__init__()
        self.config = {"dim": dim, "layers": layers, "heads": heads, "version": VERSION}
        self.blocks = nn.ModuleList(CrossBlock(dim, heads) for _ in range(layers))
        self.log_temperature = nn.Parameter(torch.tensor(math.log(temperature)))
        self.word_weight = nn.Linear(dim, 1)
        nn.init.zeros_(self.word_weight.weight)
        nn.init.zeros_(self.word_weight.bias)

    def forward(self, text: torch.Tensor, mask: torch.Tensor, image: torch.Tensor):
        """text B×T×D with mask B×T (one query repeated per candidate is fine), image B×16×D
        → match score B, in cosine units."""
        image = F.normalize(image, dim=-1)
        query = F.normalize(text, dim=-1)
        for block in self.blocks:
            query = block(query, image)
        query = F.normalize(query, dim=-1)
        attention = (self.log_temperature.exp() * query @ image.transpose(1, 2)).softmax(-1)
        agreement = (query * F.normalize(attention @ image, dim=-1)).sum(-1)
        weights = self.word_weight(query).squeeze(-1).masked_fill(~mask.bool(), float("-inf"))
        return (weights.softmax(-1) * agreement).sum(-1)


def numpy_head(head: CrossEncoder) -> CrossHead:
    """The trained weights, as the query-time head runs them."""
    arrays = {name: value.detach().cpu().float().numpy().copy()
              for name, value in head.state_dict().items()}
    return CrossHead(arrays, dict(head.config))


def nce_loss(scores: torch.Tensor) -> torch.Tensor:
    """Column 0 is the positive, the rest are hard negatives."""
    return F.cross_entropy(scores, torch.zeros(len(scores), dtype=torch.long))
