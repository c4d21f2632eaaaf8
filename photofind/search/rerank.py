"""Rerank the top-k with a cross-encoder that shares the frozen backbone (Geigle et al.,
"Retrieve Fast, Rerank Smart", TACL 2022).

The query's token features from the frozen text tower attend to each candidate photo's 16
stored image tokens (``photofind.index.tokens``) through a small cross-attention block.
Only this head trains, on the residual of the bi-encoder. A second, training-free signal
joins it: the owner's texts on photos that look like the candidate
(``photofind.search.neighbours``). The fused score is
``cosine + weight × cross + neighbour_weight × neighbours``, both weights chosen on validation
(both 0 = rerank stays off).
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

from photofind.library.files import file_facts
from photofind.search.hybrid import DEFAULT_TOP_K, rerank  # noqa: F401 - re-exported
from photofind.search.neighbours import NeighbourTexts

WEIGHTS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)  # fusion weights tried on validation; trained at 1
NEIGHBOUR_WEIGHTS = (0.0, 0.1, 0.2, 0.4, 0.8)
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
    """A trained head and the neighbours' texts with their fusion weights, for one model key."""

    def __init__(self, head: CrossEncoder, weight: float, meta: dict,
                 neighbours: NeighbourTexts | None = None, neighbour_weight: float = 0.0):
        self.head, self.weight, self.meta = head.eval(), weight, meta
        self.neighbours, self.neighbour_weight = neighbours, neighbour_weight

    @property
    def active(self) -> bool:
        return self.weight > 0 or (self.neighbours is not None and self.neighbour_weight > 0)

    def bonus(self, text_tokens, text_mask, query: np.ndarray, candidate_ids, tokens_of,
              vectors_of) -> np.ndarray:
        """What reranking adds to each candidate's cosine. ``tokens_of(ids)`` (image tokens)
        and ``vectors_of(ids)`` (image vectors) are read only for a signal that is on."""
        total = np.zeros(len(candidate_ids), dtype=np.float32)
        if self.weight > 0:
            total += self.weight * self.scores(text_tokens, text_mask, tokens_of(candidate_ids))
        if self.neighbours is not None and self.neighbour_weight > 0:
            total += self.neighbour_weight * self.neighbours.scores(
                query, candidate_ids, vectors_of(candidate_ids))
        return total

    @torch.no_grad()
    def scores(self, text_tokens, text_mask, image_tokens: np.ndarray) -> np.ndarray:
        image = torch.from_numpy(image_tokens.astype(np.float32))
        n = len(image)
        text = torch.as_tensor(np.asarray(text_tokens, dtype=np.float32))  # either runtime's
        mask = torch.as_tensor(np.asarray(text_mask, dtype=bool))
        return self.head(text.expand(n, -1, -1), mask.expand(n, -1), image).numpy()

    def save(self, path: Path) -> None:
        from safetensors.torch import save_file

        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.contiguous() for k, v in self.head.state_dict().items()}
        neighbours = {}
        if self.neighbours is not None:
            tensors.update({f"neighbours.{k}": torch.from_numpy(np.ascontiguousarray(v))
                            for k, v in self.neighbours.tensors().items()})
            neighbours = {"k": self.neighbours.k, "tau": self.neighbours.tau}
        tmp = path.with_name(path.name + ".tmp")
        save_file(tensors, str(tmp))
        weights = file_facts(tmp)  # checked before every load (services.artefacts)
        os.replace(tmp, path)
        json_tmp = path.with_suffix(".json.tmp")
        json_tmp.write_text(json.dumps(
            {**self.meta, "weight": self.weight, "neighbour_weight": self.neighbour_weight,
             "neighbours": neighbours, "config": self.head.config, "weights": weights},
            indent=2))
        os.replace(json_tmp, path.with_suffix(".json"))

    @classmethod
    def load(cls, path: Path) -> Reranker:
        from safetensors.torch import load_file

        meta = json.loads(path.with_suffix(".json").read_text())
        config = dict(meta["config"])
        if config.pop("version", 1) != VERSION:
            raise ValueError(f"{path.name}: reranker from an older photofind; adapt again")
        tensors = load_file(str(path))
        head = CrossEncoder(**config)
        head.load_state_dict({k: v for k, v in tensors.items() if not k.startswith("neighbours.")})
        neighbours = None
        if meta.get("neighbours"):
            arrays = {k.removeprefix("neighbours."): v.numpy() for k, v in tensors.items()
                      if k.startswith("neighbours.")}
            neighbours = NeighbourTexts(**arrays, **meta["neighbours"])
        return cls(head, float(meta["weight"]), meta, neighbours,
                   float(meta.get("neighbour_weight", 0.0)))


def weights_text(summary: dict) -> str:
    """The kept reranker's fusion weights, for people: "cross-encoder ×0.25 + look-alikes'
    texts ×0.4"."""
    parts = [f"cross-encoder ×{summary['weight']}"] if summary["weight"] else []
    if summary.get("neighbour_weight"):
        parts.append(f"look-alikes' texts ×{summary['neighbour_weight']}")
    return " + ".join(parts)


def nce_loss(scores: torch.Tensor) -> torch.Tensor:
    """Column 0 is the positive, the rest are hard negatives."""
    return F.cross_entropy(scores, torch.zeros(len(scores), dtype=torch.long))
