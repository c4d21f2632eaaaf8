"""Tiny open_clip models with random weights, written to disk the way a user's custom model
would be (config JSON + safetensors), so tests run the real loading path without a hub."""

from __future__ import annotations

import json
from pathlib import Path

import torch

TINY_VIT = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16,
                   "head_width": 32},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2,
                 "layers": 2},
}

TINY_CNN = {  # a timm CNN image tower (no pretrained download: created from config)
    "embed_dim": 32,
    "vision_cfg": {"timm_model_name": "resnet10t", "timm_model_pretrained": False,
                   "timm_pool": "avg", "timm_proj": "linear", "image_size": 64},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2,
                 "layers": 2},
}


def write_tiny_model(folder: Path, cfg: dict = TINY_VIT, seed: int = 0,
                     name: str = "tiny-vit") -> tuple[Path, Path]:
    """Create (config.json, weights.safetensors) for a random tiny model; returns both."""
    import open_clip
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / f"{name}.json"
    config_path.write_text(json.dumps(cfg))
    torch.manual_seed(seed)
    model = open_clip.model.CLIP(**cfg) if "timm_model_name" not in cfg["vision_cfg"] else \
        open_clip.model.CLIP(**cfg)
    weights = folder / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    return config_path, weights
