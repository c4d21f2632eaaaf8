"""Rerank the top-k with a cross-encoder that shares the frozen backbone (Geigle et al.,
"Retrieve Fast, Rerank Smart", TACL 2022).

The query's token features from the frozen text tower attend to each candidate photo's 16
stored image tokens (``photofind.index.tokens``) through a small cross-attention block.
Only this head trains, on the residual of the bi-encoder; its score is fused with the
bi-encoder's cosine as ``cosine + weight × cross``, the weight chosen on validation
(0 = rerank stays off).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DEFAULT_TOP_K = 50
WEIGHTS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)  # fusion weights tried on validation; trained at 1
VERSION = 2  # heads of version 1 (text tokens before the projection) are not loaded


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


class Reranker:
    """A trained head with its fusion weight, for one model key."""

    def __init__(self, head: CrossEncoder, weight: float, meta: dict):
        self.head, self.weight, self.meta = head.eval(), weight, meta

    @property
    def active(self) -> bool:
        return self.weight > 0

    @torch.no_grad()
    def scores(self, text_tokens, text_mask, image_tokens: np.ndarray) -> np.ndarray:
        image = torch.from_numpy(image_tokens.astype(np.float32))
        n = len(image)
        return self.head(text_tokens.float().expand(n, -1, -1), text_mask.expand(n, -1),
                         image).numpy()

    def save(self, path: Path) -> None:
        from safetensors.torch import save_file

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        save_file({k: v.contiguous() for k, v in self.head.state_dict().items()}, str(tmp))
        os.replace(tmp, path)
        path.with_suffix(".json").write_text(json.dumps(
            {**self.meta, "weight": self.weight, "config": self.head.config}, indent=2))

    @classmethod
    def load(cls, path: Path) -> Reranker:
        from safetensors.torch import load_file

        meta = json.loads(path.with_suffix(".json").read_text())
        config = dict(meta["config"])
        if config.pop("version", 1) != VERSION:
            raise ValueError(f"{path.name}: reranker from an older photofind; adapt again")
        head = CrossEncoder(**config)
        head.load_state_dict(load_file(str(path)))
        return cls(head, float(meta["weight"]), meta)


def rerank(hits: list[tuple[int, float]], cross: np.ndarray, weight: float
           ) -> list[tuple[int, float, float]]:
    """Reorder retrieved (id, cosine) by cosine + weight·cross; only these k photos move."""
    fused = [(pid, cos, float(c)) for (pid, cos), c in zip(hits, cross)]
    return sorted(fused, key=lambda item: -(item[1] + weight * item[2]))


def nce_loss(scores: torch.Tensor) -> torch.Tensor:
    """Column 0 is the positive, the rest are hard negatives."""
    return F.cross_entropy(scores, torch.zeros(len(scores), dtype=torch.long))
