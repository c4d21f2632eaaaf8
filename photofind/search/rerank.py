"""Rerank the top-k with a cross-encoder that shares the frozen backbone (Geigle et al.,
"Retrieve Fast, Rerank Smart", TACL 2022).

The query's token features from the frozen text tower attend to each candidate photo's 16
stored image tokens (``photofind.index.tokens``) through two small cross-attention blocks.
Only this head trains; its score is fused with the bi-encoder's cosine as
``cosine + weight × cross``, the weight chosen on validation (0 = rerank stays off).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DEFAULT_TOP_K = 50
WEIGHTS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


class CrossBlock(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm_q, self.norm_kv, self.norm_mlp = nn.LayerNorm(dim), nn.LayerNorm(dim), \
            nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, query: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(image)
        query = query + self.attention(self.norm_q(query), kv, kv, need_weights=False)[0]
        return query + self.mlp(self.norm_mlp(query))


class CrossEncoder(nn.Module):
    def __init__(self, text_width: int, dim: int, layers: int = 2, heads: int = 4):
        super().__init__()
        self.config = {"text_width": text_width, "dim": dim, "layers": layers, "heads": heads}
        self.text_in = nn.Linear(text_width, dim)
        self.image_in = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList(CrossBlock(dim, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.score = nn.Linear(dim, 1)

    def forward(self, text: torch.Tensor, mask: torch.Tensor, image: torch.Tensor):
        """text B×T×W with mask B×T (one query repeated per candidate is fine), image B×16×D
        → match score B."""
        query, image = self.text_in(text), self.image_in(image)
        for block in self.blocks:
            query = block(query, image)
        weights = mask.unsqueeze(-1).to(query.dtype)
        pooled = (self.norm(query) * weights).sum(1) / weights.sum(1).clamp(min=1)
        return self.score(pooled).squeeze(-1)


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
        head = CrossEncoder(**meta["config"])
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
