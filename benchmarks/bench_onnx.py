"""ONNX Runtime against torch for the frozen towers, and the runtime's options, in one run.

    python3 benchmarks/bench_onnx.py [--bench-model DIR] [--vit ViT-B-32] [--photos 1000]
        [--repeats 3] [--out FILE]

For the bench model (``benchmarks/bench_model``: real weights, so quality is measured) and a
ViT with random weights (the compute of the real architecture without a download):

- image throughput, img/s on batches of 32 decoded photos: torch eager, ORT fp32 with graph
  optimisation "all" / "extended" and 1 / all cores, ORT int8 (dynamic quantisation);
- one text query, ms (median of 30): the same variants;
- bench model only: text→image R@1/5/10 over ``--photos`` Flickr8k photos and their five
  captions each, per variant, and the mean top-10 overlap of each variant's ranking with
  torch's (out of 10).

Variants run interleaved, ``--repeats`` times, medians reported, so ratios compare runs from
the same moment of a possibly busy machine. Prints JSON on stdout and a table on stderr.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PHOTOFIND_SHARED_DATA", REPO.parent / "shared" / "data"))
BATCH = 32
VARIANTS = {  # name → RuntimeOptions fields (None: torch)
    "torch": None,
    "ort": {"int8_images": False},
    "ort-int8-images": {"int8_images": True},  # the default where int8 is fast
    "ort-extended": {"optimization": "extended", "int8_images": False},
    "ort-1-thread": {"threads": 1, "int8_images": False},
    "ort-int8": {"int8": True},
    "ort-int8-channel": {"int8": True, "per_channel": True},
    "ort-int8-channel-matmul": {"int8": True, "per_channel": True, "int8_ops": ("MatMul",)},
    "ort-int8-image-only": {"int8": True, "per_channel": True, "int8_ops": ("MatMul",),
                            "int8_text": False},
}


def embedders(spec, cache: Path) -> dict:
    from photofind.embed.encoder import Embedder
    from photofind.embed.runtime import OrtEmbedder, RuntimeOptions, open_embedder

    base = open_embedder(spec, "cpu", cache)
    if not isinstance(base, OrtEmbedder):
        sys.exit("the export failed; see the log line above")
    out = {}
    for name, options in VARIANTS.items():
        out[name] = Embedder(base.loaded) if options is None else \
            base.with_options(RuntimeOptions(**options))
    return out


def decoded(paths: list[Path], prep) -> np.ndarray:
    from photofind.library.decode import open_photo, to_model_array

    return np.stack([to_model_array(open_photo(p, draft_size=prep.size), prep) for p in paths])


def image_rate(embedder, arrays: np.ndarray) -> float:
    start = time.perf_counter()
    for i in range(0, len(arrays), BATCH):
        embedder.encode_images(arrays[i:i + BATCH])
    return len(arrays) / (time.perf_counter() - start)


def query_ms(embedder, queries: list[str]) -> float:
    times = []
    for query in queries:
        start = time.perf_counter()
        embedder.encode_texts([query])
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def flickr(limit: int) -> tuple[list[Path], list[str], np.ndarray]:
    folder = SHARED / "flickr8k"
    if not folder.is_dir():
        sys.exit(f"needs {folder} (the team's shared data)")
    captions: dict[str, list[str]] = {}
    with open(folder / "captions.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            captions.setdefault(row["image"], []).append(row["caption"])
    names = sorted(captions)[:limit]
    texts = [c for name in names for c in captions[name]]
    owner = np.array([i for i, name in enumerate(names) for _ in captions[name]])
    return [folder / "images" / n for n in names], texts, owner


def quality(embedder, images: np.ndarray, texts: list[str], owner: np.ndarray) -> dict:
    vectors = np.concatenate([embedder.encode_images(images[i:i + BATCH])
                              for i in range(0, len(images), BATCH)])
    queries = np.concatenate([embedder.encode_texts(texts[i:i + 256])
                              for i in range(0, len(texts), 256)])
    sims = queries @ vectors.T
    rank = (sims > sims[np.arange(len(texts)), owner][:, None]).sum(1)
    recall = {f"R@{k}": round(100 * float((rank < k).mean()), 2) for k in (1, 5, 10)}
    return {**recall, "top10": np.argsort(-sims, axis=1)[:, :10]}


def measure(label: str, spec, cache: Path, repeats: int, photos: int, with_quality: bool
            ) -> dict:
    runs = embedders(spec, cache)
    prep = runs["torch"].prep
    paths, texts, owner = flickr(photos)
    arrays = decoded(paths, prep)
    rates = {name: [] for name in runs}
    latencies = {name: [] for name in runs}
    for _ in range(repeats):
        for name, embedder in runs.items():
            embedder.encode_images(arrays[:BATCH])  # warm: first-call allocations
            rates[name].append(image_rate(embedder, arrays[:256]))
            latencies[name].append(query_ms(embedder, texts[:30]))
    result = {name: {"img_per_s": round(statistics.median(rates[name]), 1),
                     "query_ms": round(statistics.median(latencies[name]), 2)}
              for name in runs}
    if with_quality:
        scores = {name: quality(e, arrays, texts, owner) for name, e in runs.items()}
        reference = scores["torch"]["top10"]
        for name, score in scores.items():
            top = score.pop("top10")
            overlap = np.mean([len(set(a) & set(b)) for a, b in zip(top, reference)])
            result[name].update(score, top10_overlap=round(float(overlap), 3))
    return {"model": label, "photos": len(arrays), "variants": result}


def random_vit(name: str, folder: Path):
    import open_clip
    import torch
    from safetensors.torch import save_file

    from photofind.embed.spec import ModelSpec

    weights = folder / f"{name}-random.safetensors"
    if not weights.exists():
        torch.manual_seed(0)
        model = open_clip.create_model(name, pretrained=None)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    return ModelSpec(name, str(weights))


def table(results: list[dict]) -> str:
    lines = ["| model | variant | img/s | × torch | query ms | R@1 | R@5 | R@10 | top-10 ∩ torch |",
             "|---|---|---|---|---|---|---|---|---|"]
    for result in results:
        base = result["variants"]["torch"]["img_per_s"]
        for name, v in result["variants"].items():
            lines.append(f"| {result['model']} | {name} | {v['img_per_s']} | "
                         f"{v['img_per_s'] / base:.2f} | {v['query_ms']} | {v.get('R@1', '')} | "
                         f"{v.get('R@5', '')} | {v.get('R@10', '')} | "
                         f"{v.get('top10_overlap', '')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench-model", default=str(REPO / ".bench-cache" / "bench-model"))
    parser.add_argument("--vit", default="ViT-B-32", help="'' to skip the random ViT")
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out")
    parser.add_argument("--variants", help="comma-separated subset of: " + ", ".join(VARIANTS)
                        + " (torch is always run: it is the reference)")
    args = parser.parse_args()
    if args.variants:
        chosen = {"torch", *args.variants.split(",")}
        unknown = chosen - VARIANTS.keys()
        if unknown:
            parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
        for name in list(VARIANTS):
            if name not in chosen:
                del VARIANTS[name]
    from photofind.embed.spec import ModelSpec

    cache = REPO / ".bench-cache" / "onnx"  # exports are kept between runs
    results = []
    bench = Path(args.bench_model)
    if (bench / "bench-lit.json").exists():
        spec = ModelSpec("custom", str(bench / "bench-lit.safetensors"),
                         str(bench / "bench-lit.json"))
        results.append(measure("bench model", spec, cache, args.repeats, args.photos, True))
    else:
        print(f"bench model not built in {bench}: skipped", file=sys.stderr)
    if args.vit:
        results.append(measure(f"{args.vit} (random)", random_vit(args.vit, cache.parent),
                               cache, args.repeats, 256, False))
    report = {"cores": os.cpu_count(), "results": results}
    print(json.dumps(report, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    print(table(results), file=sys.stderr)


if __name__ == "__main__":
    main()
