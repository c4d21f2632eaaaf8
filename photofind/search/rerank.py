"""Rerank the top-k with a cross-encoder that shares the frozen backbone (Geigle et al.,
"Retrieve Fast, Rerank Smart", TACL 2022).

The query's token features from the frozen text tower attend to each candidate photo's 16
stored image tokens (``photofind.index.tokens``) through a small cross-attention block.
Only this head trains, on the residual of the bi-encoder. A second, training-free signal
joins it: the owner's texts on photos that look like the candidate
(``photofind.search.neighbours``). The fused score is
``cosine + weight × cross + neighbour_weight × neighbours``, both weights chosen on validation
(both 0 = rerank stays off).

The head trains in torch (``photofind.adapt.cross_encoder``); here it runs in numpy, so a
search, reranked or not, never imports torch.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from photofind.library import heap
from photofind.library.files import file_facts
from photofind.search.blas import one_thread
from photofind.search.hybrid import DEFAULT_TOP_K, rerank  # noqa: F401 - re-exported
from photofind.search.neighbours import NeighbourTexts

WEIGHTS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)  # fusion weights tried on validation; trained at 1
NEIGHBOUR_WEIGHTS = (0.0, 0.1, 0.2, 0.4, 0.8)
VERSION = 2  # heads of version 1 (text tokens before the projection) are not loaded


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5) * weight + bias


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _softmax(x: np.ndarray) -> np.ndarray:
    x = np.exp(x - x.max(-1, keepdims=True))
    return x / x.sum(-1, keepdims=True)


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (error < 1.5e-7): numpy has no erf, GELU needs one."""
    sign, x = np.sign(x), np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
                                                                         + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-x * x))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


class CrossHead:
    """The cross-encoder's forward pass (``adapt.cross_encoder.CrossEncoder``) in numpy, from
    its state dict: pre-norm cross-attention blocks, then each word's soft match among the
    photo's tokens, weighted by how much the word matters."""

    def __init__(self, arrays: dict[str, np.ndarray], config: dict):
        self.arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
        self.config = config
        # each linear layer's weight transposed once, contiguous: products are then single
        # 2-D GEMMs (numpy's stacked matmul with a transposed view skips BLAS: 5x slower)
        self._t = {k.replace("_weight", ".weight"): np.ascontiguousarray(v.T)
                   for k, v in self.arrays.items() if k.endswith("weight") and v.ndim == 2}
        self._bias = {k.replace("_bias", ".bias"): v for k, v in self.arrays.items()
                      if k.endswith("bias")}  # in_proj_bias read as in_proj.bias

    def _linear(self, x: np.ndarray, name: str, rows: slice = slice(None)) -> np.ndarray:
        weight = self._t[f"{name}.weight"][:, rows]
        bias = self._bias[f"{name}.bias"][rows]
        return (x.reshape(-1, x.shape[-1]) @ weight + bias).reshape(*x.shape[:-1], -1)

    def _block(self, i: int, query: np.ndarray, image: np.ndarray) -> np.ndarray:
        a = self.arrays
        at = f"blocks.{i}."
        heads = self.config["heads"]
        kv = _layer_norm(image, a[at + "norm_kv.weight"], a[at + "norm_kv.bias"])
        q_in = _layer_norm(query, a[at + "norm_q.weight"], a[at + "norm_q.bias"])
        batch, (words, dim) = len(image), q_in.shape[1:]
        size = dim // heads

        def split(x: np.ndarray) -> np.ndarray:  # B×T×D → B×H×T×d
            return x.reshape(x.shape[0], x.shape[1], heads, size).transpose(0, 2, 1, 3)

        q = split(self._linear(q_in, at + "attention.in_proj", slice(0, dim)))  # 1 or B
        k = split(self._linear(kv, at + "attention.in_proj", slice(dim, 2 * dim)))
        v = split(self._linear(kv, at + "attention.in_proj", slice(2 * dim, 3 * dim)))
        attended = _softmax(q @ k.transpose(0, 1, 3, 2) / math.sqrt(size)) @ v
        attended = attended.transpose(0, 2, 1, 3).reshape(batch, words, dim)
        query = query + self._linear(attended, at + "attention.out_proj")  # now B rows
        hidden = _gelu(self._linear(_layer_norm(query, a[at + "norm_mlp.weight"],
                                                a[at + "norm_mlp.bias"]), at + "mlp.0"))
        return query + self._linear(hidden, at + "mlp.2")

    def __call__(self, text: np.ndarray, mask: np.ndarray, image: np.ndarray) -> np.ndarray:
        """text B×T×D with mask B×T, image B×16×D → match score B, in cosine units. One
        query for every candidate may come as 1×T×D and 1×T: what depends only on the words
        is then computed once."""
        with one_thread():  # see photofind/search/blas.py
            return self._scores(text, mask, image)

    def _scores(self, text: np.ndarray, mask: np.ndarray, image: np.ndarray) -> np.ndarray:
        image = _normalize(image)
        query = _normalize(text)
        for i in range(self.config["layers"]):
            query = self._block(i, query, image)
        query = _normalize(query)
        temperature = math.exp(float(self.arrays["log_temperature"].reshape(-1)[0]))
        attention = _softmax(temperature * query @ image.transpose(0, 2, 1))
        agreement = (query * _normalize(attention @ image)).sum(-1)
        weights = (query @ self.arrays["word_weight.weight"].T)[..., 0] + \
            self.arrays["word_weight.bias"][0]
        weights = np.where(mask, weights, -np.inf)
        return (_softmax(weights) * agreement).sum(-1)


class Reranker:
    """A trained head and the neighbours' texts with their fusion weights, for one model key."""

    def __init__(self, head: CrossHead, weight: float, meta: dict,
                 neighbours: NeighbourTexts | None = None, neighbour_weight: float = 0.0):
        self.head, self.weight, self.meta = head, weight, meta
        self.neighbours, self.neighbour_weight = neighbours, neighbour_weight

    @property
    def active(self) -> bool:
        return self.weight > 0 or (self.neighbours is not None and self.neighbour_weight > 0)

    def bonus(self, text_tokens, text_mask, query: np.ndarray, candidate_ids, tokens_of,
              vectors_of) -> np.ndarray:
        """What reranking adds to each candidate's cosine. ``tokens_of(ids)`` (image tokens)
        and ``vectors_of(ids)`` (image vectors) are read only for a signal that is on. Its
        few MB of working arrays stay in the heap for the next query (see ``heap``)."""
        total = np.zeros(len(candidate_ids), dtype=np.float32)
        with heap.pooled_big_blocks(then_give_back=False):
            if self.weight > 0:
                total += self.weight * self.scores(text_tokens, text_mask,
                                                   tokens_of(candidate_ids))
            if self.neighbours is not None and self.neighbour_weight > 0:
                total += self.neighbour_weight * self.neighbours.scores(
                    query, candidate_ids, vectors_of(candidate_ids))
        return total

    def scores(self, text_tokens, text_mask, image_tokens: np.ndarray) -> np.ndarray:
        image = np.asarray(image_tokens, dtype=np.float32)
        n = len(image)
        text = np.asarray(text_tokens, dtype=np.float32)  # either runtime's, or a tensor
        mask = np.asarray(text_mask, dtype=bool)
        return self.head(text[:1] if len(text) == 1 else text,
                         np.broadcast_to(mask, (n, *mask.shape[1:])), image)

    def save(self, path: Path) -> None:
        from safetensors.numpy import save_file

        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {k: np.ascontiguousarray(v) for k, v in self.head.arrays.items()}
        neighbours = {}
        if self.neighbours is not None:
            tensors.update({f"neighbours.{k}": np.ascontiguousarray(v)
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
        from safetensors.numpy import load_file

        meta = json.loads(path.with_suffix(".json").read_text())
        config = dict(meta["config"])
        if config.get("version", 1) != VERSION:
            raise ValueError(f"{path.name}: reranker from an older photofind; adapt again")
        tensors = load_file(str(path))
        head = CrossHead({k: v for k, v in tensors.items() if not k.startswith("neighbours.")},
                         config)
        neighbours = None
        if meta.get("neighbours"):
            arrays = {k.removeprefix("neighbours."): v for k, v in tensors.items()
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
