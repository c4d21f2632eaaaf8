"""Quality benchmark with the bench model: `photofind eval` on both protocols.

Builds (or reuses) the bench model, then runs the captioned protocol on the shared Flickr8k
photos and the tagged protocol on the shared flowers mixed into the Flickr8k photos, with
made-up personal names. Writes JSON, markdown tables and PNG charts to --out and prints the
tables. Usage:
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
    parser.add_argument("--out", default=str(REPO / "bench-results"))
    parser.add_argument("--captioned-variants",
                        default="zero-shot,text,visual,both,adapter,zero-shot+rerank")
    parser.add_argument("--tagged-variants",
                        default="zero-shot,text,visual,both,adapter,concepts,"
                                "text+adapter+concepts")
    args = parser.parse_args()
    if not (MODEL / "bench-lit.safetensors").exists():
        subprocess.run([sys.executable, str(REPO / "benchmarks/bench_model/build.py")],
                       check=True)
    common = ["--seeds", args.seeds, "--epochs", args.epochs, "--min-steps", "200"]
    photofind("--data-dir", f"{args.out}/unused", "eval", "captioned",
              str(SHARED / "flickr8k/images"), str(SHARED / "flickr8k/captions.csv"),
              "--variants", args.captioned_variants, "--out", f"{args.out}/captioned", *common)
    photofind("--data-dir", f"{args.out}/unused", "eval", "tagged", str(SHARED / "flowers/images"),
              str(SHARED / "flowers/tags.csv"), "--distractors", str(SHARED / "flickr8k/images"),
              "--names", NAMES, "--variants", args.tagged_variants, "--out",
              f"{args.out}/tagged", *common)


if __name__ == "__main__":
    main()
