"""LiT-style training of the two projections and the logit scale on cached tower features."""

import math
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from .data import log


@dataclass
class Recipe:
    epochs: int = 70
    batch_photos: int = 1024  # distinct photos per batch, one random caption each
    lr: float = 1e-3  # constant, as in the recipe (cosine decay was no better)
    weight_decay: float = 0.1
    feature_dropout: float = 0.5  # on the frozen features: the main guard against overfitting
    embed_dim: int = 512
    seed: int = 0


def _caption_table(text_image: torch.Tensor, n_images: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per photo, its caption indices (padded) and their count, for uniform caption sampling."""
    counts = torch.bincount(text_image, minlength=n_images)
    table = torch.zeros(n_images, int(counts.max()), dtype=torch.long)
    fill = torch.zeros(n_images, dtype=torch.long)
    for t, i in enumerate(text_image.tolist()):
        table[i, fill[i]] = t
        fill[i] += 1
    return table, counts


def train_projections(feats: dict, recipe: Recipe) -> dict:
    """Symmetric InfoNCE; returns the projection weights, the logit scale and the timing."""
    gen = torch.Generator().manual_seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    img, txt = feats["image_features"], feats["text_features"]
    table, counts = _caption_table(feats["text_image"], len(img))
    image_proj = torch.nn.Linear(img.shape[1], recipe.embed_dim, bias=False)
    text_proj = torch.nn.Linear(txt.shape[1], recipe.embed_dim, bias=False)
    logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    drop = torch.nn.Dropout(recipe.feature_dropout)
    opt = torch.optim.AdamW(
        [
            {"params": [image_proj.weight, text_proj.weight], "weight_decay": recipe.weight_decay},
            {"params": [logit_scale], "weight_decay": 0.0},
        ],
        lr=recipe.lr,
    )
    steps_per_epoch = math.ceil(len(img) / recipe.batch_photos)
    start = time.perf_counter()
    for epoch in range(recipe.epochs):
        order = torch.randperm(len(img), generator=gen)
        total = 0.0
        for batch in order.split(recipe.batch_photos):
            pick = (torch.rand(len(batch), generator=gen) * counts[batch]).long()
            captions = table[batch, pick]
            zi = F.normalize(image_proj(drop(img[batch])), dim=-1)
            zt = F.normalize(text_proj(drop(txt[captions])), dim=-1)
            logits = logit_scale.exp() * zi @ zt.T
            labels = torch.arange(len(batch))
            loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                logit_scale.clamp_(0, math.log(100))
            total += loss.item()
        if (epoch + 1) % 10 == 0:
            log(f"epoch {epoch + 1}/{recipe.epochs}: loss {total / steps_per_epoch:.3f}, "
                f"scale {logit_scale.exp().item():.1f}")
    return {
        "image_proj": image_proj.weight.detach().clone(),
        "text_proj": text_proj.weight.detach().clone(),
        "logit_scale": logit_scale.detach().clone(),
        "seconds": time.perf_counter() - start,
        "final_loss": total / steps_per_epoch,
        "recipe": asdict(recipe),
    }
