"""Tiny open_clip models with random weights, written to disk the way a user's custom model
would be (config JSON + safetensors), so tests run the real loading path without a hub."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import torch

TINY_TEXT = {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2}

TINY_VIT = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16,
                   "head_width": 32},
    "text_cfg": TINY_TEXT,
}

TINY_CNN = {  # a timm CNN image tower (created from config, no download)
    "embed_dim": 32,
    "vision_cfg": {"timm_model_name": "resnet10t", "timm_model_pretrained": False,
                   "timm_pool": "avg", "timm_proj": "linear", "image_size": 64},
    "text_cfg": TINY_TEXT,
}

TINY_HF_TEXT = {  # a Hugging Face BERT text tower in a folder next to the config
    "embed_dim": 32,
    "vision_cfg": TINY_VIT["vision_cfg"],
    "text_cfg": {"hf_model_name": "tiny-bert", "hf_tokenizer_name": "tiny-bert",
                 "hf_proj_type": "linear", "hf_pooler_type": "mean_pooler",
                 "context_length": 32},
}


def write_tiny_bert(folder: Path, captions_csv: Path | None = None) -> None:
    """A 2-layer BERT config and a word-level vocabulary from real captions."""
    from transformers import BertConfig, BertTokenizerFast

    words = {"dog", "cat", "beach", "a", "the", "photo", "of"}
    if captions_csv and captions_csv.exists():
        with open(captions_csv, encoding="utf-8") as handle:
            for row in list(csv.DictReader(handle))[:2000]:
                words.update(re.findall(r"[a-z]+", row["caption"].lower()))
    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"[unused{i}]" for i in range(8)]
    vocab += sorted(words)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(str(folder / "vocab.txt")).save_pretrained(folder)  # positional: transformers 5 ignores vocab_file=
    BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
               num_attention_heads=2, intermediate_size=64,
               max_position_embeddings=64).save_pretrained(folder)


def write_tiny_model(folder: Path, cfg: dict = TINY_VIT, seed: int = 0,
                     name: str = "tiny-vit", captions_csv: Path | None = None
                     ) -> tuple[Path, Path]:
    """Create (config.json, weights.safetensors) for a random tiny model; returns both."""
    import open_clip
    from safetensors.torch import save_file

    from photofind.embed.model import register_custom_config

    folder.mkdir(parents=True, exist_ok=True)
    if "hf_model_name" in cfg["text_cfg"]:
        write_tiny_bert(folder / cfg["text_cfg"]["hf_model_name"], captions_csv)
    config_path = folder / f"{name}.json"
    config_path.write_text(json.dumps(cfg))
    registered, _, _ = register_custom_config(config_path)
    torch.manual_seed(seed)
    model = open_clip.create_model(registered, pretrained_text=False)
    weights = folder / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    return config_path, weights
