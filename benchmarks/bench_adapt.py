"""Adaptation cost with ViT-B-32 on this machine (issue 5 targets).

Random weights of the real ViT-B-32 architecture (no hub here; compute cost is identical to
the pretrained model). Measures, in one run: plain indexing speed of the shared Flickr8k
photos (the baseline); the app's whole "Adapt to my library" on those photos with their
captions (the default variants, text + visual prompts and the residual adapter, each within
its time budget, then the reranker within its own), with early stopping off so only the
budgets stop training (the worst case); time per phase and epoch, trainable parameters; and
re-embedding speed with the visual prompt as a ratio to plain indexing. Prints JSON and a
table. Usage: python benchmarks/bench_adapt.py [--photos 1000]
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import open_clip
import torch
from safetensors.torch import save_file

from photofind.adapt.report import AdaptProgress
from photofind.adapt.store import Adaptation
from photofind.embed.model import ModelSpec
from photofind.library.metadata import TextItem
from photofind.services import adapting as adaptation
from photofind.services.library import PhotoLibrary

FLICKR = Path(__file__).resolve().parents[2] / "shared" / "data" / "flickr8k"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=None, help="default: the app's")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-adapt-"))
    weights = work / "vit-b-32-random.safetensors"
    model = open_clip.create_model("ViT-B-32")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    del model
    photos_dir = work / "photos"
    photos_dir.mkdir()
    photos = sorted((FLICKR / "images").glob("*.jpg"))[: args.photos]
    for photo in photos:
        (photos_dir / photo.name).symlink_to(photo)
    lib = PhotoLibrary(work / "data", model=ModelSpec("ViT-B-32", str(weights)))
    _ = lib.embedder.dim  # load the model before timing
    started = time.monotonic()
    lib.index([photos_dir])
    index_s = time.monotonic() - started
    captions: dict[str, list[str]] = {}
    with open(FLICKR / "captions.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            captions.setdefault(row["image"], []).append(row["caption"])
    with lib.catalog.transaction() as db:
        for photo in photos:
            row = lib.catalog.photo_by_path(photos_dir / photo.name)
            lib.catalog.add_texts(db, row.id, [TextItem("caption", c, "bench", "")
                                               for c in captions[photo.name]])
    variants = [replace(v, epochs=args.epochs or v.epochs) for v in adaptation.DEFAULT_VARIANTS]
    variants = [replace(v, patience=v.epochs) for v in variants]  # only budgets stop training
    phases: dict[str, float] = {}
    clock = {"phase": "start", "at": time.monotonic()}

    def on_progress(event) -> None:  # wall time per phase, summed over both variants
        now = time.monotonic()
        if clock["phase"] != "done":
            phases[clock["phase"]] = phases.get(clock["phase"], 0.0) + now - clock["at"]
        clock.update(phase=event.phase, at=now)

    started = time.monotonic()
    result = adaptation.adapt(lib, variants, progress=on_progress, rerank=True)
    adapt_s = time.monotonic() - started
    on_progress(AdaptProgress("done"))
    config = variants[0]
    base = lib.embedder.adapted(None)
    lib.embedder = base
    trained = Adaptation(base.model, base.loaded.tokenizer, config, base.prep.size, base.dim)
    with torch.no_grad():
        trained.visual.tokens.normal_(std=0.02)
    trained.save(work / "prompts.safetensors")
    started = time.monotonic()
    adaptation.activate(lib, base, work / "prompts.safetensors")
    reembed_s = time.monotonic() - started
    out = {
        "photos": len(photos), "epochs": result.epochs_run,
        "budgets_s": [v.time_budget_s for v in variants] + [adaptation.RERANK_BUDGET_S],
        "plain_index_img_s": round(len(photos) / index_s, 2),
        "adapt_s": round(adapt_s, 1), "seconds_per_epoch": result.seconds_per_epoch,
        "best_variant": result.variant, "phase_s": {k: round(v, 1) for k, v in phases.items()},
        "rerank": result.rerank,
        "trainable_params": result.trainable_params,
        "trainable_share_percent": round(100 * result.share, 4),
        "reembed_img_s": round(len(photos) / reembed_s, 2),
        "reembed_vs_index": round(index_s / reembed_s, 3),
        "val_before": {k: v for k, v in result.before.items() if k != "per_query"},
        "val_after": {k: v for k, v in result.after.items() if k != "per_query"},
        "kept": result.kept, "torch_threads": torch.get_num_threads(),
    }
    print(json.dumps(out, indent=2))
    print("\n| photos | index img/s | adapt s (epochs) | s/epoch | params (share) | "
          "re-embed img/s | re-embed / index |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {out['photos']} | {out['plain_index_img_s']} | {out['adapt_s']} ({out['epochs']}) "
          f"| {out['seconds_per_epoch']} | {out['trainable_params']:,} "
          f"({out['trainable_share_percent']} %) | {out['reembed_img_s']} | "
          f"{out['reembed_vs_index']} |")


if __name__ == "__main__":
    main()
