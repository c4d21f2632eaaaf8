"""Frozen-tower features of the training pairs, computed once and cached.

With both towers locked, training only needs the pooled tower outputs (EfficientNet's 1280-d
average-pooled trunk output, MiniLM's 384-d masked mean), so they are extracted once (~minutes
on 2 cores) and the projections then train in seconds.
"""

import copy
import os
import time
from pathlib import Path

import torch

from .data import encode_images, encode_texts, log, read_captions


def _pooled_text(model):
    """The text tower up to (not including) its projection, exactly as HFTextEncoder.forward."""
    text = model.text

    def encode(tokens: torch.Tensor) -> torch.Tensor:
        mask = (tokens != text.config.pad_token_id).long()
        out = text.transformer(input_ids=tokens, attention_mask=mask)
        return text.pooler(out, mask)

    return encode


def extract(model, preprocess, tokenizer, data_dir: Path) -> dict:
    captions = read_captions(data_dir)
    images = list(captions)
    texts = [c for name in images for c in captions[name]]
    text_image = [i for i, name in enumerate(images) for _ in captions[name]]
    start = time.perf_counter()
    model.eval()
    # channels_last roughly doubles CPU throughput of depthwise convs; a copy keeps the model as is
    trunk = copy.deepcopy(model.visual.trunk).to(memory_format=torch.channels_last)
    image_feats = encode_images(
        lambda x: trunk(x.contiguous(memory_format=torch.channels_last)),
        [data_dir / "images" / n for n in images], preprocess, "train images",
    )
    text_feats = encode_texts(_pooled_text(model), tokenizer, texts, "train captions")
    return {
        "images": images,
        "image_features": image_feats,
        "text_features": text_feats,
        "text_image": torch.tensor(text_image),
        "seconds": time.perf_counter() - start,
    }


def cached_features(cache: Path, model, preprocess, tokenizer, data_dir: Path) -> dict:
    """Load the cache if present, otherwise extract and write it atomically."""
    if cache.is_file():
        log(f"using cached training features {cache}")
        return torch.load(cache, weights_only=True)
    feats = extract(model, preprocess, tokenizer, data_dir)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    torch.save(feats, tmp)
    os.replace(tmp, cache)
    log(f"features: {len(feats['images'])} images, {len(feats['text_image'])} captions "
        f"in {feats['seconds']:.0f} s -> {cache}")
    return feats
