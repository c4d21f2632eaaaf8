"""Quality benchmark with the bench model: `photofind eval` on both protocols.

Builds (or reuses) the bench model, then runs the captioned protocol on the shared Flickr8k
photos and the tagged protocol on the shared flowers mixed into the Flickr8k photos, with
made-up personal names. Writes JSON, markdown tables and PNG charts to --out and prints the
tables. The bench model's image tower is a CNN, whose visual prompt is a pixel border that
needs the whole tower every step (~80 s an epoch on 2 cores): those variants run on a shorter
schedule (--pixel-epochs, --pixel-min-steps). Usage:
    python benchmarks/bench_quality.py [--seeds 0,1,2] [--epochs 10] [--out bench-results]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
MODEL = REPO / ".bench-cache" / "bench-model"
NAMES = "daisy=Biscuit,dandelion=Pemberton,roses=Quillon,sunflowers=Marzipan,tulips=Zorbeck"


def photofind(*args: str) -> None:
    command = [sys.executable, "-m", "photofind", "--model-config",
               str(MODEL / "bench-lit.json"), "--pretrained", str(MODEL / "bench-lit.safetensors"),
               *args]
    subprocess.run(command, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--epochs", default="10")
    parser.add_argument("--pixel-epochs", default="3")
    parser.add_argument("--pixel-min-steps", default="30")
    parser.add_argument("--out", default=str(REPO / "bench-results"))
    parser.add_argument("--captioned-variants", default="zero-shot,text,adapter,zero-shot+rerank")
    parser.add_argument("--tagged-variants",
                        default="zero-shot,text,adapter,concepts,text+adapter+concepts")
    parser.add_argument("--pixel-variants", default="visual,both")
    args = parser.parse_args()
    if not (MODEL / "bench-lit.safetensors").exists():
        subprocess.run([sys.executable, str(REPO / "benchmarks/bench_model/build.py")],
                       check=True)
    out = Path(args.out)
    protocols = {
        "captioned": ([str(SHARED / "flickr8k/images"), str(SHARED / "flickr8k/captions.csv")],
                      args.captioned_variants),
        "tagged": ([str(SHARED / "flowers/images"), str(SHARED / "flowers/tags.csv"),
                    "--distractors", str(SHARED / "flickr8k/images"), "--names", NAMES],
                   args.tagged_variants)}
    for protocol, (inputs, variants) in protocols.items():
        if not variants:  # e.g. --captioned-variants "": only the tagged protocol
            continue
        parts = []
        for name, chosen, epochs, min_steps in (
                ("main", variants, args.epochs, "200"),
                ("pixel", args.pixel_variants, args.pixel_epochs, args.pixel_min_steps)):
            if not chosen:
                continue
            photofind("--data-dir", str(out / "unused"), "eval", protocol, *inputs,
                      "--variants", chosen, "--seeds", args.seeds, "--epochs", epochs,
                      "--min-steps", min_steps, "--out", str(out / protocol))
            part = out / protocol / f"{protocol}-{name}.json"
            (out / protocol / f"{protocol}.json").replace(part)
            parts.append(str(part))
        subprocess.run([sys.executable, str(REPO / "benchmarks/merge_results.py"),
                        str(out / protocol), *parts], check=True)


if __name__ == "__main__":
    main()
