"""Is the reranker short of data, or short of signal? A ceiling check with the bench model.

The captioned protocol's reranker learns from ~600 captioned photos (a sample of 1,200 of
their captions). This script also teaches the same head, with the same code, on a *donor*
library ten times larger and from the same domain (the bench model's own Flickr8k training
photos, disjoint from the test photos), then lets each seed's validation choose its fusion
weight on the test library, exactly as for the library-trained head. If the donor head does
no better, more captions would not help: the frozen features lack the signal.

Rows per seed, same run: zero-shot, library-trained head (what "Adapt" ships), donor head.
Indexing the donor folder takes ~9 min on 2 cores, the donor head ~7 min. Usage:
    python benchmarks/rerank_ceiling.py [--seeds 0,1,2] [--donor-texts 12000] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
MODEL = REPO / ".bench-cache" / "bench-model"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--donor-texts", type=int, default=12000)
    parser.add_argument("--donor-epochs", type=int, default=1)
    parser.add_argument("--out", default=str(REPO / "bench-results" / "rerank-ceiling"))
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    from photofind.adapt.data import build_data
    from photofind.adapt.rerank_train import choose_weights, train_reranker
    from photofind.embed.model import ModelSpec
    from photofind.services import evaluate
    from photofind.services.adapting import teach_reranker
    from photofind.services.library import PhotoLibrary

    spec = ModelSpec("custom", str(MODEL / "bench-lit.safetensors"),
                     str(MODEL / "bench-lit.json"))
    out = Path(args.out)

    def library(path):
        return PhotoLibrary(path, model=spec)

    donor_folder = SHARED / "flickr8k-train" / "images"
    donor = library(out / "donor")
    donor.index([donor_folder])
    if not donor.catalog.all_texts():  # a rerun reuses the donor's catalog
        donor_table = evaluate.read_table(SHARED / "flickr8k-train" / "captions.csv", "caption")
        evaluate.add_captions(donor, donor_folder, donor_table,
                              [p for p in donor_table if (donor_folder / p).exists()])
    donor_data = build_data(donor.catalog.all_texts(), sorted(donor.vectors.ids),
                            val_fraction=0.05)
    donor_head = train_reranker(donor, donor_data, epochs=args.donor_epochs,
                                max_texts=args.donor_texts, max_pool=len(donor.vectors))
    donor.close()

    folder = SHARED / "flickr8k" / "images"
    table = evaluate.read_table(SHARED / "flickr8k" / "captions.csv", "caption")

    def held_out_r1(lib, held) -> float:
        return round(100 * float(np.mean(evaluate.caption_ranks(lib, folder, table, held) <= 1)),
                     2)

    photos = sorted(p for p in table if (folder / p).exists())
    base = out / "base-data"
    if not base.exists():
        evaluate.indexed_base(out, [folder], library)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        owner, held = evaluate.owner_split(photos, seed, evaluate.EvalSettings.owner_fraction)
        lib = evaluate.fresh_copy(base, out / "run", library)
        evaluate.add_captions(lib, folder, table, owner)
        data = build_data(lib.catalog.all_texts(), sorted(lib.vectors.ids), seed=seed)
        row = {"seed": seed, "zero-shot": held_out_r1(lib, held)}
        info = teach_reranker(lib, data, out / "heads", seed, time_budget_s=None)
        row["library head"] = held_out_r1(lib, held)
        row["library head weight"] = info.get("weight", 0.0)
        donor_head.weight = choose_weights(lib, donor_head, data, seed)["weight"]
        lib.reranker = donor_head
        row["donor head"] = held_out_r1(lib, held)
        row["donor head weight"] = donor_head.weight
        lib.close()
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary = {"rows": rows, "donor_texts": donor_head.meta["train_texts"],
               "donor_validation_R@1": [donor_head.meta["before"]["R@1"],
                                        donor_head.meta["after"]["R@1"]],
               "donor_photos": len(donor_data.train.photo_ids), "gains_R@1": {
                   name: round(float(np.mean([r[name] - r["zero-shot"] for r in rows])), 2)
                   for name in ("library head", "donor head")}}
    (out / "rerank-ceiling.json").write_text(json.dumps(summary, indent=2))
    print("| seed | zero-shot R@1 | library head | donor head |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['seed']} | {r['zero-shot']} | {r['library head']} (w {r['library head weight']})"
              f" | {r['donor head']} (w {r['donor head weight']}) |")
    print("mean gain over zero-shot:", summary["gains_R@1"])
    print("donor head on the donor's own validation, R@1 before → after:",
          summary["donor_validation_R@1"])


if __name__ == "__main__":
    main()
