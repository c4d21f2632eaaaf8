"""Image embedding and a compact token grid from one forward pass (for the reranker).

The last feature map (ViT patch tokens, or a CNN's final cells) is pooled to a 4×4 grid and
passed through the model's own image projection, so each of the 16 tokens lives in the joint
space: 16 × 512 × float16 = 16 KB per photo for ViT-B-32 or the bench model.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

GRID = 4


def encode_with_tokens(model, adaptation, pixels: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(unnormalised embeddings N×D, tokens N×16×D or None if the tower is unsupported)."""
    visual = model.visual
    prompt = adaptation.visual if adaptation is not None else None
    if hasattr(visual, "class_embedding") and hasattr(visual, "transformer") and \
            getattr(visual, "attn_pool", None) is None:
        pooled, tokens = _vit(visual, prompt, pixels)
    elif hasattr(visual, "trunk") and hasattr(visual.trunk, "forward_features"):
        if prompt is not None:
            pixels = pixels + prompt.mask * prompt.border.to(pixels.dtype)
        fmap = visual.trunk.forward_features(pixels)
        pooled = visual.head(visual.trunk.forward_head(fmap))
        cells = grid_pool(fmap.flatten(2).transpose(1, 2), fmap.shape[-2], fmap.shape[-1])
        tokens = visual.head(cells)
    else:
        features = adaptation.encode_image(model, pixels) if adaptation is not None else \
            model.encode_image(pixels)
        return features, None
    if adaptation is not None and adaptation.adapter is not None:
        pooled = adaptation.adapter(pooled)
    return pooled, tokens


def _vit(visual, prompt, pixels):
    if prompt is not None:
        x = prompt.extend(prompt.front(pixels))
    else:
        x = visual.transformer(visual._embeds(pixels))
    pooled, tokens = visual._pool(x)
    if visual.proj is not None:
        pooled, tokens = pooled @ visual.proj, tokens @ visual.proj
    side = int(math.isqrt(tokens.shape[1]))
    return pooled, grid_pool(tokens[:, : side * side], side, side)


def grid_pool(cells: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """N×(H·W)×D row-major cells → N×16×D: ``adaptive_avg_pool2d`` to 4×4, written as one
    matrix product with the same (possibly overlapping) bins, because ONNX exporters cannot
    export adaptive pooling whose input size is not a multiple of its output."""
    return torch.from_numpy(_pool_matrix(int(height), int(width))).to(cells) @ cells


@functools.cache
def _pool_matrix(height: int, width: int) -> np.ndarray:
    """A constant (numpy, so an exporter records a weight, not the ops that made it)."""
    return np.kron(_bins(height), _bins(width)).astype(np.float32)


def _bins(size: int) -> np.ndarray:
    """GRID×size averaging rows of adaptive pooling: bin i covers
    [floor(i·size/GRID), ceil((i+1)·size/GRID))."""
    rows = np.zeros((GRID, size))
    for i in range(GRID):
        start, end = (i * size) // GRID, -((-(i + 1) * size) // GRID)
        rows[i, start:end] = 1.0 / (end - start)
    return rows
