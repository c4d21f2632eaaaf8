"""Build steps of the bench model; `build.py` is the command-line entry point."""

import argparse
import json
import os
import time
from pathlib import Path

import open_clip
import torch
from safetensors.torch import save_file

from . import towers
from .config import make_config
from .data import log
from .evaluate import text_to_image_recall
from .features import cached_features
from .load import load_bench_model, read_config, register
from .paths import (
    CONFIG_FILE,
    DEFAULT_OUT,
    EVAL_DIR,
    FEATURE_CACHE,
    FLOWERS_DIR,
    MINILM_DIR,
    REPORT_FILE,
    TRAIN_DIR,
    WEIGHTS_FILE,
)
from .train import Recipe, train_projections
from .verify import imagenet_checks

# HF config + tokenizer only: the text weights travel in the model's own safetensors file.
MINILM_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json",
                "special_tokens_map.json", "vocab.txt", "README.md")


def is_complete(out: Path) -> bool:
    names = [CONFIG_FILE, WEIGHTS_FILE, REPORT_FILE] + [f"{MINILM_DIR}/{f}" for f in MINILM_FILES]
    return all((out / n).is_file() for n in names)


def _write_atomic(path: Path, data: bytes) -> None:
    """Others may be reading a previous build: never expose a half-written file."""
    if path.is_file() and path.read_bytes() == data:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_layout(out: Path) -> None:
    """The config (relative HF path) and the HF folder it points at."""
    (out / MINILM_DIR).mkdir(parents=True, exist_ok=True)
    for name in MINILM_FILES:
        _write_atomic(out / MINILM_DIR / name, (towers.minilm_dir() / name).read_bytes())
    config = json.dumps(make_config(MINILM_DIR), indent=2) + "\n"
    _write_atomic(out / CONFIG_FILE, config.encode())


def pretrained_towers(out: Path):
    """The untrained bench model with both pretrained towers loaded strictly and frozen."""
    cfg = read_config(out)
    name = register(cfg)
    model, _, preprocess = open_clip.create_model_and_transforms(
        name, pretrained=None, pretrained_text=False,
        image_mean=cfg["preprocess_cfg"]["mean"], image_std=cfg["preprocess_cfg"]["std"],
        image_interpolation=cfg["preprocess_cfg"]["interpolation"],
        image_resize_mode=cfg["preprocess_cfg"]["resize_mode"],
    )
    towers.load_image_trunk(model.visual.trunk)
    dropped = towers.load_text_transformer(model.text.transformer)
    model.requires_grad_(False)
    return model.eval(), preprocess, open_clip.get_tokenizer(name), dropped


def save_weights(model, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)  # atomic: readers of a previous build never see a partial file


def build(out: Path, force: bool = False) -> dict:
    if is_complete(out) and not force:
        log(f"already built: {out} (use --force to rebuild)")
        return json.loads((out / REPORT_FILE).read_text())
    torch.manual_seed(0)
    (out / REPORT_FILE).unlink(missing_ok=True)
    write_layout(out)
    model, preprocess, tokenizer, dropped = pretrained_towers(out)
    # (open_clip's "initialized randomly" warning above predates these strict loads)
    log("towers loaded strictly (dropped unused text keys: " + ", ".join(dropped) + ")")
    feats = cached_features(out / FEATURE_CACHE, model, preprocess, tokenizer, TRAIN_DIR)

    result = train_projections(feats, Recipe())
    log(f"trained projections in {result['seconds']:.1f} s")
    model.visual.head.proj.weight.copy_(result["image_proj"])
    model.text.proj.weight.copy_(result["text_proj"])
    model.logit_scale.copy_(result["logit_scale"])
    save_weights(model, out / WEIGHTS_FILE)

    # Evaluate what was saved, loaded the way users load it.
    start = time.perf_counter()
    model, preprocess, tokenizer = load_bench_model(out)
    assert list(model.visual.preprocess_cfg["mean"]) == [0.5, 0.5, 0.5], model.visual.preprocess_cfg
    recall, n_images, n_queries = text_to_image_recall(model, preprocess, tokenizer, EVAL_DIR)
    eval_seconds = time.perf_counter() - start
    log(f"text->image on {n_images} photos / {n_queries} queries: {recall}")
    checks = imagenet_checks(model, preprocess, FLOWERS_DIR, EVAL_DIR)
    log(f"ImageNet check: {checks}")
    if checks["daisy_top1_is_985"] < 0.5 or checks["dog_top1_is_dog_breed"] < 0.5:
        raise RuntimeError(f"image tower is not the ImageNet EfficientNet-Lite0: {checks}")

    report = {
        "text_to_image": {**recall, "photos": n_images, "queries": n_queries,
                          "data": "flickr8k (held out)", "preprocess": model.visual.preprocess_cfg},
        "feature_extraction_s": round(feats["seconds"], 1),
        "training_s": round(result["seconds"], 1),
        "evaluation_s": round(eval_seconds, 1),
        "train": {**result["recipe"], "photos": len(feats["images"]),
                  "captions": len(feats["text_image"]), "final_loss": round(result["final_loss"], 4),
                  "logit_scale": round(result["logit_scale"].exp().item(), 2)},
        "verification": {"image_mapping_strict": True, "text_weights_strict": True,
                         "text_keys_dropped": dropped, **checks},
        "versions": {m.__name__: m.__version__ for m in _versioned()},
        "torch_threads": torch.get_num_threads(),
    }
    _write_atomic(out / REPORT_FILE, (json.dumps(report, indent=2) + "\n").encode())
    log(f"done: {out}")
    return report


def _versioned():
    import timm
    import transformers

    return [torch, open_clip, timm, transformers]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the bench model (LiT-style open_clip).")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    parser.add_argument("--force", action="store_true", help="rebuild (features stay cached)")
    args = parser.parse_args(argv)
    report = build(args.out.resolve(), args.force)
    recall = {k: v for k, v in report["text_to_image"].items() if k.startswith("R@")}
    log(f"text->image recall (%): {recall}")

