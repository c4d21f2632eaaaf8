"""Text in photos (OCR) and query terms, measured: recall, false words, quoted-query top-1,
cost per photo, memory, what the pass costs embedding, and ``"flowers - tulips"``.

    python3 benchmarks/bench_ocr.py [--photos 300] [--drawn 200] [--seed 0] [--out FILE]
                                    [--bench-model DIR] [--skip-slowdown] [--skip-terms]

1. A set: ``--photos`` Flickr8k photos from ``../shared``; on ``--drawn`` of them words are
   drawn (1-3 words of the Flickr8k captions' vocabulary, or a number, as one line; fonts
   the OS ships: DejaVu, Noto, URW; 14-60 px; a backing box or none, with or without an
   outline; rotated up to ±15°; a third with some perspective); the rest stay clean.
2. Reading, in a fresh process as the app's reader runs (``photofind.ocr.reader``, decode
   included): word recall by text size (14-24, 24-40, 40-60 px), words reported on the clean
   photos (real text in them counts too: listed), ms per photo with and without drawn text,
   peak RSS.
3. The app's path: the set indexed with the bench model (a random small ViT without it),
   the text pass run (``PhotoLibrary.read_texts``), then a quoted query for one drawn word
   per photo (its longest); top-1 rate.
4. What the pass costs embedding: ``photofind index`` of 200 other photos in fresh data dirs,
   alone and while a reader process (idle priority, as the app runs it) reads photos in a
   loop; interleaved rounds, img/s medians.
5. Query terms with the bench model: the 998 flowers and 1,000 Flickr8k photos; the share of
   tulips in the top 50 of ``flowers`` and of ``flowers - tulips``.
Prints JSON on stdout and a short table on stderr.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PHOTOFIND_SHARED_DATA", REPO.parent / "shared" / "data"))
FLICKR, FLOWERS = SHARED / "flickr8k", SHARED / "flowers"
BENCH_MODEL = REPO / ".bench-cache" / "bench-model"
FONT_GLOBS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans*.ttf",
              "/usr/share/fonts/truetype/dejavu/DejaVuSerif*.ttf",
              "/usr/share/fonts/truetype/noto/NotoSansMono-*.ttf",
              "/usr/share/fonts/opentype/urw-base35/NimbusSans-*.otf",
              "/usr/share/fonts/opentype/urw-base35/P052-*.otf",
              "/usr/share/fonts/opentype/urw-base35/URWGothic-*.otf")
BANDS = ((14, 24), (24, 40), (40, 61))
SMALL_VIT = {"embed_dim": 256,
             "vision_cfg": {"image_size": 224, "layers": 4, "width": 256, "patch_size": 32,
                            "head_width": 64},
             "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 256,
                          "heads": 4, "layers": 4}}


def log(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


# -- 1. the set ---------------------------------------------------------------------------
def vocabulary() -> list[str]:
    words = set()
    with open(FLICKR / "captions.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            words.update(w for w in re.findall(r"[a-z]+", row["caption"].lower())
                         if 4 <= len(w) <= 10)
    return sorted(words)


def draw_words(path: Path, out: Path, words: str, size: int, rng: random.Random,
               fonts: list[str]) -> dict:
    from PIL import Image, ImageDraw, ImageFont

    photo = Image.open(path).convert("RGB")
    font_file = rng.choice(fonts)
    angle = rng.uniform(-15, 15)
    layer = Image.new("RGBA", photo.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    while True:  # the whole line stays in the photo, turned: fewer words, then a smaller size
        font = ImageFont.truetype(font_file, size)
        left, top, right, bottom = draw.textbbox((0, 0), words, font=font)
        width, height = right - left + 16, bottom - top + 12
        turned_w = width * math.cos(math.radians(abs(angle))) + \
            height * math.sin(math.radians(abs(angle)))
        turned_h = width * math.sin(math.radians(abs(angle))) + \
            height * math.cos(math.radians(abs(angle)))
        if turned_w <= photo.width - 20 and turned_h <= photo.height - 20:
            break
        if " " in words:
            words = words.rsplit(" ", 1)[0]
        else:
            size = max(14, int(size * 0.9))
            if size == 14:
                break
    cx = rng.uniform(10 + turned_w / 2, photo.width - 10 - turned_w / 2)
    cy = rng.uniform(10 + turned_h / 2, photo.height - 10 - turned_h / 2)
    x, y = cx - (right + left) / 2, cy - (bottom + top) / 2
    width, height = right - left, bottom - top
    style = rng.choice(["light box", "dark box", "plain", "outline"])
    if style.endswith("box"):
        light = style == "light box"
        draw.rectangle((x + left - 8, y + top - 6, x + right + 8, y + bottom + 6),
                       fill=(240, 236, 220, 235) if light else (25, 30, 40, 235))
        colour = (20, 20, 25, 255) if light else (250, 250, 240, 255)
        draw.text((x, y), words, font=font, fill=colour)
    else:
        colour = rng.choice([(255, 255, 255), (255, 220, 0), (230, 30, 30), (20, 20, 20),
                             (0, 200, 255)]) + (255,)
        stroke = 2 if style == "outline" else 0
        draw.text((x, y), words, font=font, fill=colour, stroke_width=stroke,
                  stroke_fill=(0, 0, 0, 255) if colour[0] > 100 else (255, 255, 255, 255))
    layer = layer.rotate(angle, resample=Image.Resampling.BICUBIC, center=(cx, cy))
    perspective = rng.random() < 1 / 3
    if perspective:
        layer = layer.transform(layer.size, Image.Transform.PERSPECTIVE,
                                _tilt(layer.size, rng), Image.Resampling.BICUBIC)
    Image.alpha_composite(photo.convert("RGBA"), layer).convert("RGB").save(
        out, "JPEG", quality=90)
    return {"file": out.name, "words": words.split(), "size": size, "style": style,
            "width": round(turned_w),
            "angle": round(angle, 1), "perspective": perspective,
            "font": Path(font_file).stem}


def _tilt(size, rng: random.Random) -> list[float]:
    """Coefficients of a mild perspective (one side ~8 % shorter)."""
    import numpy as np

    w, h = size
    d = 0.08 * h * rng.choice([-1, 1])
    source = [(0, 0), (w, 0), (w, h), (0, h)]
    target = [(0, max(0, d)), (w, max(0, -d)), (w, h - max(0, -d)), (0, h - max(0, d))]
    rows = []
    for (x, y), (u, v) in zip(target, source):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    rhs = [c for point in source for c in point]
    return list(np.linalg.solve(np.array(rows, float), np.array(rhs, float)))


def make_set(folder: Path, count: int, drawn: int, seed: int) -> list[dict]:
    import glob

    rng = random.Random(seed)
    fonts = sorted(f for pattern in FONT_GLOBS for f in glob.glob(pattern))
    words = vocabulary()
    photos = sorted((FLICKR / "images").glob("*.jpg"))
    chosen = rng.sample(photos, count)
    folder.mkdir(parents=True)
    truth = []
    for i, path in enumerate(chosen):
        out = folder / f"{i:04d}-{path.name}"
        if i < drawn:
            parts = [rng.choice(words) for _ in range(rng.randint(1, 2))]
            if rng.random() < 0.4:
                parts.append(str(rng.randint(2, 9999)))
            text = " ".join(p.upper() if rng.random() < 0.4 else p for p in parts)
            truth.append(draw_words(path, out, text, rng.randint(14, 60), rng, fonts))
        else:
            out.symlink_to(path)
            truth.append({"file": out.name, "words": [], "size": None})
    log(f"set: {count} photos, {drawn} with words, {len(fonts)} fonts")
    return truth


# -- 2. reading in a fresh process -----------------------------------------------------------
def read_part(folder: Path, out: Path) -> None:
    from photofind.ocr.reader import TextReader

    reader = TextReader()
    files = sorted(folder.iterdir())
    reader.read_file(files[0])  # warm: the first run of a graph allocates
    results = {}
    for path in files:
        started = time.perf_counter()
        lines = reader.read_file(path)
        results[path.name] = {"s": time.perf_counter() - started,
                              "lines": [line.text for line in lines]}
    results["_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write_text(json.dumps(results))


def reading(folder: Path, truth: list[dict], work: Path) -> dict:
    from photofind.search.phrases import words_of

    out = work / "read.json"
    subprocess.run([sys.executable, __file__, "--part", "read", str(folder), str(out)],
                   check=True)
    read = json.loads(out.read_text())
    recall = {f"{lo}-{hi if hi < 61 else 60}px": [0, 0] for lo, hi in BANDS}
    false_words, with_s, clean_s, missed = [], [], [], []
    for item in truth:
        got = read[item["file"]]
        found = set(words_of(" ".join(got["lines"])))
        if item["words"]:
            with_s.append(got["s"])
            band = next(f"{lo}-{hi if hi < 61 else 60}px" for lo, hi in BANDS
                        if lo <= item["size"] < hi)
            for word in item["words"]:
                hit = words_of(word)[0] in found
                recall[band][0] += hit
                recall[band][1] += 1
                if not hit:
                    missed.append((item["file"], word, item["size"], got["lines"]))
        else:
            clean_s.append(got["s"])
            false_words += [(item["file"], w) for w in words_of(" ".join(got["lines"]))]
    clean_photos = sum(1 for item in truth if not item["words"])
    return {
        "recall": {band: round(hit / max(1, total), 3) for band, (hit, total) in recall.items()},
        "words": {band: total for band, (_, total) in recall.items()},
        "recall_24px_up": round(sum(recall[b][0] for b in list(recall)[1:]) /
                                max(1, sum(recall[b][1] for b in list(recall)[1:])), 3),
        "words_on_clean_photos": len(false_words),
        "per_10_clean_photos": round(10 * len(false_words) / max(1, clean_photos), 2),
        "clean_words_seen": false_words[:30],
        "ms_with_text": round(1000 * statistics.median(with_s), 1),
        "ms_without_text": round(1000 * statistics.median(clean_s), 1),
        "ms_mean_all": round(1000 * statistics.mean(with_s + clean_s), 1),
        "without_over_with": round(statistics.median(clean_s) / statistics.median(with_s), 2),
        "peak_rss_mb": round(read["_peak_rss_mb"]),
        "missed_examples": missed[:12],
    }


# -- 3. the app's path: index, the pass, quoted queries -------------------------------------
def model_spec(bench: Path, work: Path):
    from photofind.embed.spec import ModelSpec

    if (bench / "bench-lit.json").exists():
        return ModelSpec("custom", str(bench / "bench-lit.safetensors"),
                         str(bench / "bench-lit.json")), "bench model"
    sys.path.insert(0, str(REPO / "tests"))
    from tinymodel import write_tiny_model

    config, weights = write_tiny_model(work / "model", SMALL_VIT, name="small-vit")
    return ModelSpec("custom", str(weights), str(config)), "small random ViT"


def app_path(folder: Path, truth: list[dict], spec, work: Path) -> dict:
    from photofind.search.phrases import words_of
    from photofind.services.library import PhotoLibrary

    lib = PhotoLibrary(work / "data", model=spec)
    try:
        lib.index([folder])
        started = time.perf_counter()
        report = lib.read_texts()
        pass_s = time.perf_counter() - started
        hits, asked, query_ms = 0, 0, []
        for item in truth:
            if not item["words"]:
                continue
            word = max(item["words"], key=lambda w: (len(words_of(w)[0]), w))
            asked += 1
            started = time.perf_counter()
            results = lib.search(f'"{word}"', k=1)
            query_ms.append(1000 * (time.perf_counter() - started))
            hits += bool(results) and Path(results[0].path).name == item["file"]
        return {"pass_photos": report.read, "pass_with_text": report.with_text,
                "pass_s": round(pass_s, 1),
                "pass_ms_per_photo": round(1000 * pass_s / max(1, report.read), 1),
                "quoted_top1": round(hits / max(1, asked), 3), "quoted_queries": asked,
                "quoted_query_ms_median": round(statistics.median(query_ms), 1)}
    finally:
        lib.close()


# -- 4. what the pass costs embedding -------------------------------------------------------
def busy_reader_part(folder: Path) -> None:
    """Read photos in a loop at idle priority, as the app's reader process does."""
    from photofind.ocr.reader import TextReader
    from photofind.ocr.worker import lowest_priority

    lowest_priority()
    reader = TextReader()
    files = sorted(folder.iterdir())
    while True:
        for path in files:
            reader.read_file(path)


def slowdown(spec, text_folder: Path, work: Path, rounds: int) -> dict:
    photos = sorted((FLICKR / "images").glob("*.jpg"))[-200:]
    folder = work / "embed-photos"
    folder.mkdir()
    for photo in photos:
        (folder / photo.name).symlink_to(photo)
    model = ["--model", spec.name, "--pretrained", spec.pretrained] + \
        (["--model-config", spec.config] if spec.config else [])
    env = {**os.environ, "PHOTOFIND_READ_TEXT": "0"}
    rates = {"alone": [], "with reader": []}
    for r in range(rounds):
        for mode in ("alone", "with reader") if r % 2 == 0 else ("with reader", "alone"):
            busy = None
            if mode == "with reader":
                busy = subprocess.Popen([sys.executable, __file__, "--part", "busy",
                                         str(text_folder), "-"])
                time.sleep(3)  # the reader is loaded and reading
            data = work / f"embed-{r}-{mode.replace(' ', '-')}"
            subprocess.run([sys.executable, "-m", "photofind", "--data-dir", str(data), *model,
                            "status"], check=True, env=env, capture_output=True)  # export once
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "photofind", "--data-dir", str(data), *model,
                            "index", str(folder)], check=True, env=env, capture_output=True)
            rates[mode].append(len(photos) / (time.perf_counter() - started))
            if busy is not None:
                busy.kill()
                busy.wait()
            log(f"  embedding {mode}: {rates[mode][-1]:.1f} photos/s")
    alone, shared = statistics.median(rates["alone"]), statistics.median(rates["with reader"])
    return {"photos": len(photos), "rounds": rounds,
            "img_s_alone": round(alone, 2), "img_s_with_reader": round(shared, 2),
            "slowdown_pct": round(100 * (1 - shared / alone), 1)}


# -- 5. "flowers - tulips" ------------------------------------------------------------------
def terms(spec, work: Path) -> dict:
    from photofind.services.library import PhotoLibrary

    folder = work / "mix"
    folder.mkdir()
    kinds = {}
    with open(FLOWERS / "tags.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            kinds[f"flower-{row['image']}"] = row["tags"]
    for name in kinds:
        (folder / name).symlink_to(FLOWERS / "images" / name.removeprefix("flower-"))
    for photo in sorted((FLICKR / "images").glob("*.jpg")):
        (folder / photo.name).symlink_to(photo)
    lib = PhotoLibrary(work / "mix-data", model=spec)
    try:
        lib.index([folder])
        out = {}
        for query in ("flowers", "flowers - tulips", "flowers - 2:tulips"):
            top = [Path(r.path).name for r in lib.search(query, k=50)]
            out[query] = {"tulips_in_top50": sum(kinds.get(n) == "tulips" for n in top),
                          "flowers_in_top50": sum(n in kinds for n in top)}
        base = out["flowers"]["tulips_in_top50"]
        out["tulip_share_ratio"] = round(out["flowers - tulips"]["tulips_in_top50"] /
                                         max(1, base), 3)
        return out
    finally:
        lib.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--drawn", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--bench-model", default=str(BENCH_MODEL))
    parser.add_argument("--skip-slowdown", action="store_true")
    parser.add_argument("--skip-terms", action="store_true")
    parser.add_argument("--out")
    parser.add_argument("--part", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        kind, folder, out = args.part
        (read_part if kind == "read" else lambda f, _: busy_reader_part(f))(Path(folder),
                                                                           Path(out))
        return
    if not (FLICKR / "images").is_dir():
        sys.exit(f"bench_ocr needs the shared data: {FLICKR} is missing")
    work = Path(tempfile.mkdtemp(prefix="bench-ocr-"))
    folder = work / "photos"
    truth = make_set(folder, args.photos, args.drawn, args.seed)
    result = {"photos": args.photos, "drawn": args.drawn, "seed": args.seed,
              "cpus": os.cpu_count(), "reading": reading(folder, truth, work)}
    log("reading:", json.dumps({k: v for k, v in result["reading"].items()
                                if "examples" not in k and "seen" not in k}))
    spec, result["model"] = model_spec(Path(args.bench_model), work)
    result["app"] = app_path(folder, truth, spec, work)
    log("app:", json.dumps(result["app"]))
    if not args.skip_slowdown:
        result["embedding"] = slowdown(spec, folder, work, args.rounds)
        log("embedding:", json.dumps(result["embedding"]))
    if not args.skip_terms and result["model"] == "bench model":
        result["terms"] = terms(spec, work)
        log("terms:", json.dumps(result["terms"]))
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    r = result["reading"]
    log("\n| recall 14-24 / 24-40 / 40-60 px | words on 10 clean photos | quoted top-1 | "
        "ms/photo with / without text | peak RSS |")
    log(f"| {' / '.join(str(v) for v in r['recall'].values())} | {r['per_10_clean_photos']} | "
        f"{result['app']['quoted_top1']} | {r['ms_with_text']} / {r['ms_without_text']} | "
        f"{r['peak_rss_mb']} MB |")


if __name__ == "__main__":
    main()
