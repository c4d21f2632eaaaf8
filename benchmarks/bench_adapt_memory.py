"""Peak memory and wall time of "Adapt to my library" as a person runs it, by library size.

For each size (default 1,000 / 4,000 / 20,000 photos) a fresh library is indexed with the
bench model, the photos get their Flickr8k captions, and `photofind adapt --json` (the
button's variants, budgets, gate and reranker) runs in its own process under GNU time: its
wall time and peak resident memory are what is reported, with the sum of the time budgets
it should stay near. The first 1,000 photos are the shared Flickr8k ones; larger libraries
add copies of them, each cropped, mirrored and re-encoded differently (distinct files and
vectors, the same captions), so memory and time grow as with a real library of that size.
Indexing is not timed here (see bench_indexing.py). Prints JSON and a table; writes
`results/adapt-memory.json`. Usage:
    python benchmarks/bench_adapt_memory.py [--sizes 1000,4000,20000] [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image, ImageOps

from photofind.services.adapting import planned_seconds

REPO = Path(__file__).resolve().parents[1]
FLICKR = REPO.parent / "shared" / "data" / "flickr8k"
MODEL = REPO / ".bench-cache" / "bench-model"
RESULTS = Path(__file__).resolve().parent / "results"


def photofind(data: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "photofind", "--data-dir", str(data), "--model-config",
               str(MODEL / "bench-lit.json"), "--pretrained", str(MODEL / "bench-lit.safetensors"),
               *args]
    return subprocess.run(command, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                          **kwargs)


def derived(source: Path, copy: int, target: Path) -> None:
    """A distinct photo from ``source``: cropped by a copy-dependent margin, mirrored on odd
    copies, re-encoded."""
    with Image.open(source) as image:
        image = ImageOps.exif_transpose(image).convert("RGB")
        w, h = image.size
        cut = 0.02 + 0.01 * (copy % 9)
        box = (int(w * cut), int(h * cut * (1 + copy % 3) / 2), int(w * (1 - cut / 2)),
               int(h * (1 - cut)))
        image = image.crop(box)
        if copy % 2:
            image = ImageOps.mirror(image)
        image.save(target, quality=85)


def library_photos(work: Path, size: int, captions: dict[str, list[str]]) -> tuple[Path, Path]:
    """A folder of ``size`` photos and its path,caption table for import-captions."""
    originals = sorted((FLICKR / "images").glob("*.jpg"))
    folder = work / f"photos-{size}"
    folder.mkdir(parents=True, exist_ok=True)
    table = work / f"captions-{size}.csv"
    with open(table, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "caption", "tags"])
        for number in range(size):
            source = originals[number % len(originals)]
            copy = number // len(originals)
            target = folder / (source.name if not copy else f"{source.stem}-{copy}.jpg")
            if not target.exists():
                if copy:
                    derived(source, copy, target)
                else:
                    target.symlink_to(source)
            for caption in captions[source.name]:
                writer.writerow([str(target), caption, ""])
    return folder, table


def peak_rss_mb(report: str) -> float:
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
    return round(int(found.group(1)) / 1024, 1) if found else float("nan")


def measure(work: Path, size: int, captions: dict[str, list[str]]) -> dict:
    folder, table = library_photos(work, size, captions)
    data = work / f"data-{size}"
    photofind(data, "index", str(folder), "--no-text", stdout=subprocess.DEVNULL)
    photofind(data, "import-captions", str(table), stdout=subprocess.DEVNULL)
    started = time.monotonic()
    done = subprocess.run(
        ["/usr/bin/time", "-v", sys.executable, "-m", "photofind", "--data-dir", str(data),
         "--model-config", str(MODEL / "bench-lit.json"), "--pretrained",
         str(MODEL / "bench-lit.safetensors"), "adapt", "--json"],
        check=True, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.monotonic() - started
    (work / f"adapt-{size}.log").write_text(done.stderr)  # stage lines with times, GNU time
    result = json.loads(done.stdout)
    return {"photos": size, "adapt_wall_s": round(wall, 1), "peak_rss_mb": peak_rss_mb(done.stderr),
            "budgets_s": planned_seconds(), "kept": result.get("kept"),
            "variant": result.get("variant"), "verdict": result.get("verdict"),
            "rerank_kept": (result.get("rerank") or {}).get("kept")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,4000,20000")
    parser.add_argument("--out", default=str(REPO / "bench-results" / "adapt-memory"))
    args = parser.parse_args()
    if not (MODEL / "bench-lit.safetensors").exists():
        subprocess.run([sys.executable, str(REPO / "benchmarks/bench_model/build.py")],
                       check=True)
    captions: dict[str, list[str]] = {}
    with open(FLICKR / "captions.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            captions.setdefault(row["image"], []).append(row["caption"])
    work = Path(args.out)
    rows = []
    for size in map(int, args.sizes.split(",")):
        rows.append(measure(work, size, captions))
        print(json.dumps(rows[-1]), file=sys.stderr)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "adapt-memory.json").write_text(json.dumps(rows, indent=2))
    print(json.dumps(rows, indent=2))
    print("\n| photos | adapt wall s | sum of budgets s | peak RSS MB | kept |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['photos']:,} | {row['adapt_wall_s']} | {row['budgets_s']:.0f} | "
              f"{row['peak_rss_mb']:,} | {row['variant'] if row['kept'] else 'no'} |")


if __name__ == "__main__":
    main()
