"""Indexing throughput: photofind's pipeline against the bare model and a naive loop.

    PYTHONPATH=. python3 benchmarks/bench_indexing.py [--count 128] [--big-count 64]
        [--repeats 3] [--workers N] [--torch-threads N] [--model ViT-B-32] [--json-out FILE]

Two photo sets, one model (random weights of the real architecture: the compute of the
pretrained model, without a download), measured ``--repeats`` times, interleaved, so that
each ratio compares runs from the same moment of a possibly busy machine; medians reported.

- flickr8k: Flickr8k photos (~500x375 JPEGs), copied to a temp dir;
- 12mp: 4000x3000 JPEGs (quality 90) upscaled from them, with a little sensor-like grain so
  that files are camera-sized (~3.5 MB) rather than unusually compressible.

Per set and repeat:

- pipeline: ``PhotoLibrary(fresh_dir, model=spec, workers=W).index([folder])`` end to end
  (scan, decoder processes, encoding, SQLite, HNSW, saving); the model is loaded before;
- model: ``Embedder.encode_images`` on arrays decoded beforehand, in the library's batches;
- naive: one process, ``Image.open(p).convert("RGB")`` + open_clip's eval transform + the
  same encoding, in batches of the same size.

CPU milliseconds per photo (all threads and decoder processes) come with each: unlike
img/s they depend little on what else the machine runs. When the CPU is the limit,
pipeline/model tends to ``CPU ratio`` = model CPU / pipeline CPU, and can at best reach
``bound`` = model CPU / (model CPU + decode CPU): decoding needs cores too.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import PIL
from PIL import Image, features

import photofind
from photofind.library.decode import prepare_photo
from photofind.library.pipeline import default_workers

# torch, open_clip and photofind.services are imported where used: spawned decoder processes
# re-import this module and, like the CLI's, should not load torch.

FLICKR = Path("/work/shared/data/flickr8k/images")
BIG_SIZE = (4000, 3000)
BIG_QUALITY = 90
GRAIN = 8.0  # std of the added noise, in 8-bit levels
BATCH = 32  # PhotoLibrary's default batch_size


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its exited, waited-for children."""
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


# -- inputs -------------------------------------------------------------------------------
def random_weights(name: str, folder: Path):
    """A ModelSpec for architecture ``name`` with seeded random weights in a safetensors file."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    from photofind.embed.model import ModelSpec

    torch.manual_seed(0)
    logging.getLogger().setLevel(logging.ERROR)  # open_clip warns that no weights are loaded
    model = open_clip.create_model(name)
    weights = folder / f"{name}-random.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    return ModelSpec(name, pretrained=str(weights))


def copy_photos(sources: list[Path], folder: Path) -> list[Path]:
    folder.mkdir(parents=True)
    return [Path(shutil.copyfile(src, folder / src.name)) for src in sources]


def make_big_photos(sources: list[Path], folder: Path, seed: int = 0) -> list[Path]:
    """12-MP JPEGs: each source upscaled (bicubic) to BIG_SIZE, plus Gaussian grain."""
    folder.mkdir(parents=True)
    width, height = BIG_SIZE
    grain = np.random.default_rng(seed).normal(0, GRAIN, (height, width, 3)).astype(np.float32)
    made = []
    for i, src in enumerate(sources):
        with Image.open(src) as image:
            big = np.asarray(image.convert("RGB").resize(BIG_SIZE, Image.Resampling.BICUBIC),
                             np.float32)
        noisy = np.clip(big + np.roll(grain, 997 * i, axis=1), 0, 255).astype(np.uint8)
        made.append(folder / src.name)
        Image.fromarray(noisy).save(made[-1], quality=BIG_QUALITY)
    return made


def decode_all(files: list[Path], prep) -> tuple[np.ndarray, float]:
    """photofind's own decoding, in this process: the arrays and CPU ms per photo."""
    start = time.process_time()
    prepared = [prepare_photo(os.fsencode(p), prep) for p in files]
    cpu_ms = (time.process_time() - start) * 1000 / len(files)
    return np.stack([p.array for p in prepared]), cpu_ms


# -- the three measurements: each returns (img/s, CPU ms per photo) ------------------------
def run_pipeline(folder: Path, spec, workers: int, data_dir: Path) -> tuple[float, float, dict]:
    """Index ``folder`` into a fresh library; also returns the library's status, with
    ``catalog_file_bytes``: the catalog's size once closed (its WAL checkpointed)."""
    from photofind.services.library import PhotoLibrary

    library = PhotoLibrary(data_dir, model=spec, workers=workers)
    try:
        library.embedder  # load the model outside the timed part  # noqa: B018
        cpu, start = cpu_seconds(), time.perf_counter()
        report = library.index([folder])
        seconds = time.perf_counter() - start
        status = library.status()
    finally:
        library.close()  # joins the decoder processes, so their CPU time is counted
    cpu = cpu_seconds() - cpu
    status["catalog_file_bytes"] = sum(f.stat().st_size for f in data_dir.glob("catalog.*"))
    if report.errors or report.added != status["photos"]:
        raise RuntimeError(f"indexing went wrong: {report.summary()} {report.problems[:3]}")
    return report.added / seconds, cpu * 1000 / report.added, status


def run_model(embedder, arrays: np.ndarray) -> tuple[float, float]:
    """``encode_images`` alone, on photos decoded beforehand."""
    cpu, start = cpu_seconds(), time.perf_counter()
    for i in range(0, len(arrays), BATCH):
        embedder.encode_images(arrays[i:i + BATCH])
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    return len(arrays) / seconds, cpu * 1000 / len(arrays)


def run_naive(embedder, files: list[Path], transform) -> tuple[float, float]:
    """The obvious loop: full decode, torchvision preprocessing, one process."""
    import torch

    cpu, start = cpu_seconds(), time.perf_counter()
    for i in range(0, len(files), BATCH):
        tensors = [transform(Image.open(p).convert("RGB")) for p in files[i:i + BATCH]]
        embedder.encode_images(torch.stack(tensors).numpy())
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    return len(files) / seconds, cpu * 1000 / len(files)


# -- driver -------------------------------------------------------------------------------
def bench_set(name: str, files: list[Path], spec, embedder, transform, workers: int,
              repeats: int, work: Path) -> dict:
    arrays, decode_ms = decode_all(files, embedder.prep)
    runs = []
    for repeat in range(repeats):
        pipe, pipe_cpu, status = run_pipeline(files[0].parent, spec, workers,
                                              work / f"data-{name}-{repeat}")
        model, model_cpu = run_model(embedder, arrays)
        naive, naive_cpu = run_naive(embedder, files, transform)
        runs.append({"pipeline_img_s": pipe, "model_img_s": model, "naive_img_s": naive,
                     "pipeline_vs_model": pipe / model, "pipeline_vs_naive": pipe / naive,
                     "pipeline_cpu_ms": pipe_cpu, "model_cpu_ms": model_cpu,
                     "naive_cpu_ms": naive_cpu, "loadavg": os.getloadavg()[0]})
        print(f"  {name} #{repeat + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in runs[-1].items()),
              flush=True)
    row = {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}
    row.pop("loadavg")
    return {
        "photos": len(files),
        "mean_file_bytes": round(statistics.mean(p.stat().st_size for p in files)),
        "pixels": "x".join(map(str, Image.open(files[0]).size)),
        **row,
        "decode_cpu_ms": round(decode_ms, 1),
        "bound": round(row["model_cpu_ms"] / (row["model_cpu_ms"] + decode_ms), 3),
        "cpu_ratio": round(row["model_cpu_ms"] / row["pipeline_cpu_ms"], 3),
        "catalog_bytes_per_photo": round(status["catalog_file_bytes"] / status["photos"]),
        "catalog_bytes_per_photo_open": round(status["catalog_bytes"] / status["photos"]),
        "index_bytes_per_photo": round(status["index_bytes"] / status["photos"]),
        "runs": [{k: round(v, 3) for k, v in r.items()} for r in runs],
    }


TABLE = {"photos": "photos", "pipeline_img_s": "pipeline img/s", "model_img_s": "model img/s",
         "naive_img_s": "naive img/s", "pipeline_vs_model": "pipe/model",
         "pipeline_vs_naive": "pipe/naive", "cpu_ratio": "CPU ratio", "bound": "bound",
         "pipeline_cpu_ms": "pipe CPU ms",
         "model_cpu_ms": "model CPU ms", "decode_cpu_ms": "decode CPU ms",
         "catalog_bytes_per_photo": "catalog B/photo", "index_bytes_per_photo": "index B/photo"}


def table(results: dict) -> str:
    lines = ["| set | " + " | ".join(TABLE.values()) + " |", "|---" * (len(TABLE) + 1) + "|"]
    for name, row in results["sets"].items():
        cells = [f"{row[k]:.2f}" if isinstance(row[k], float) else str(row[k]) for k in TABLE]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=128, help="Flickr8k photos (default 128)")
    parser.add_argument("--big-count", type=int, default=64,
                        help="12-MP photos to generate (default 64)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None,
                        help=f"decoder processes (default photofind's: {default_workers()} here)")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch intra-op threads for all three (default: torch's)")
    parser.add_argument("--model", default="ViT-B-32", help="open_clip architecture")
    parser.add_argument("--photos", type=Path, default=FLICKR, help="folder of source JPEGs")
    parser.add_argument("--json-out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    workers = default_workers() if args.workers is None else args.workers
    sources = sorted(args.photos.glob("*.jpg"))
    if len(sources) < max(args.count, args.big_count):
        parser.error(f"{args.photos} has {len(sources)} JPEGs, fewer than asked for")

    import open_clip.transform
    import torch

    from photofind.embed.encoder import Embedder

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    with tempfile.TemporaryDirectory(prefix="bench-indexing-") as tmp:
        work = Path(tmp)
        spec = random_weights(args.model, work)
        embedder = Embedder.load(spec, "cpu")
        transform = open_clip.transform.image_transform_v2(
            open_clip.transform.PreprocessCfg(**embedder.loaded.preprocess_cfg), is_train=False)
        sets = {"flickr8k": copy_photos(sources[:args.count], work / "small")}
        start = time.perf_counter()
        sets["12mp"] = make_big_photos(sources[:args.big_count], work / "big")
        print(f"made {args.big_count} 12-MP photos in {time.perf_counter() - start:.0f} s",
              flush=True)
        results = {
            "model": f"{args.model} (random weights)", "batch_size": BATCH, "workers": workers,
            "repeats": args.repeats, "photofind": str(Path(photofind.__file__).parent),
            "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                        "torch": torch.__version__, "pillow": PIL.__version__,
                        "libjpeg_turbo": features.check_feature("libjpeg_turbo"),
                        "python": platform.python_version(),
                        "loadavg_start": os.getloadavg()[0]},
            "sets": {name: bench_set(name, files, spec, embedder, transform, workers,
                                     args.repeats, work) for name, files in sets.items()},
        }
        results["machine"]["loadavg_end"] = os.getloadavg()[0]
    text = json.dumps(results, indent=2)
    print(text)
    print(table(results))
    if args.json_out:
        args.json_out.write_text(text + "\n")
    return results


if __name__ == "__main__":
    main()
