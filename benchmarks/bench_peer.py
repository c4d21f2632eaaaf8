"""photofind against its closest peer, rclip 4.0.8, on the same photos, weights and cores.

    PYTHONPATH=. python3 benchmarks/bench_peer.py [--rounds 2] [--queries 5] [--count 1000]
        [--big-count 200] [--out FILE]

rclip (https://github.com/yurijmikhalevich/rclip) is a CLI photo search on ONNX Runtime
(no torch), with the same kind of model: open_clip ``ViT-B-32-256`` (256x256 input, 512-d).
It needs Python >= 3.12, so it runs from its own venv, ``.bench-cache/peer/venv`` (made here
with ``python3.12 -m venv`` + ``pip install rclip==4.0.8`` when missing; ``--peer-python``
picks the interpreter). It is not a photofind extra: photofind's env is Python 3.11 and
the benchmark only ever runs rclip's own venv.

Same weights, offline. rclip downloads its towers from the Hugging Face hub at first use;
here they are made once, cached in ``.bench-cache/peer/model/`` (``benchmarks/peer_model.py``):
random weights of ``ViT-B-32-256`` (bench_indexing's ``random_weights``, seed 0) as a
safetensors file for ``photofind --pretrained``, and the same weights exported to ONNX in
the layout rclip's ``model_download.py`` reads from ``$RCLIP_DATADIR``. Compute is real
for both; retrieval quality means nothing.

Measured, each a fresh process, rounds interleaved (rclip, photofind, rclip, ...) so that
each ratio compares runs from the same moment of a possibly busy machine; medians reported:

- indexing: a fresh data dir per round. photofind: ``photofind --data-dir D --model
  ViT-B-32-256 --pretrained W index --no-text FOLDER`` (rclip reads no text in photos;
  photofind's OCR pass is measured by ``bench_ocr.py``). rclip has no index-only command (it indexes
  the current directory before each query unless ``--no-indexing``), so its round runs
  ``rclip.main.init_rclip(cwd, 8)``: what ``rclip QUERY`` does before it searches, with its
  default batch of 8. Sets: the Flickr8k photos (read in place) and 12-MP JPEGs made by
  bench_indexing's ``make_big_photos`` (cached in ``.bench-cache/peer/``). img/s = photos /
  wall time of the whole process, start-up and model loading included.
- cold queries over the indexed Flickr8k library (the last round's data dir): ``rclip -n -f
  -t 10 QUERY`` in the photo folder and ``photofind ... search QUERY -k 10 --json``; text,
  and an image query with a 12-MP photo that is not in the library. "Cold" is a new process;
  the OS file cache is warm (photos and model files are read once before the clock).
- sanity: every round must catalog all the photos and every query return 10 results; the
  JSON has each query's top-10 overlap between the tools (same weights: ~10 expected).

A fresh data dir holds as much of the model for each tool: rclip's gets links to the ONNX
files; photofind exports its ONNX graphs from the weights at first use, into the data dir
unless ``$PHOTOFIND_ONNX_CACHE`` names a shared folder, here ``.bench-cache/peer/
photofind-onnx``. A warm-up (index one photo, one text and one image query per tool, not
in the tables) fills it, and warms the OS caches for the first round; its times are in the
JSON (``warm_up_s``: photofind's index step there is its first-use export, when the cache
was empty; rclip's first use would be a ~600 MB download instead).

Memory: a thread samples the summed RSS of the process and all its descendants (from
/proc) every 20 ms; the tables use the peak of that sum (``rss_mb``). Where a tool spawns
processes (photofind's decoders before 2026-12-07, and still with an accelerator), the sum
counts the shared libraries' pages again: in a check (60 photos) photofind's peak summed RSS
was 995 MB against 938 MB of summed PSS, which is too costly to sample (see
``TreeSampler``). The JSON also has ``ru_maxrss`` from ``wait4``
(``maxrss_mb``: the largest single process of the tree, never below the driver's RSS at
the fork, see ``_no_vfork``). CPU s are user + system of the whole tree (wait4), steadier
than wall time when other jobs share the cores.

Threads: nothing needs pinning. Both set ONNX Runtime's intra-op threads to
``len(os.sched_getaffinity(0))`` (2 here); rclip decodes on ``os.cpu_count()`` threads,
photofind on ``max(2, os.cpu_count() - 1)`` threads (processes with an accelerator). Both inherit this process's affinity,
so they get the same cores (``taskset -c 0,1 python3 ...`` would restrict both alike, their
decoder counts still following ``os.cpu_count()``). ``HF_HUB_OFFLINE=1`` and no PYTHONPATH
for both.

Output: JSON on stdout (and ``--out``), a markdown table on stderr with photofind/rclip
(img/s above 1, or seconds and MB below 1, are photofind's lead). A full run (1,000 + 200
photos, 2 rounds, 5 queries) took 25 min on the 2 shared cores (load 4.5-8 from other
jobs; ~1,400 CPU-s of the tools). The first run also makes rclip's venv (~1 min, PyPI), the
models (~2 min), the 12-MP photos (~2.5 min) and photofind's graphs (in the warm-up, 6 min
on that busy box); later runs find them in ``.bench-cache/peer/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.bench_indexing import FLICKR, copy_photos, make_big_photos
from benchmarks.peer_model import (
    RCLIP_VERSION,
    TEXT_QUERY,
    ensure_peer_venv,
    peer_env,
    prepare_models,
    rclip_datadir,
)

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".bench-cache" / "peer"
MODEL = "ViT-B-32-256"
TOP_K = 10
PAGE = os.sysconf("SC_PAGE_SIZE")


# -- one measured process --------------------------------------------------------------
class TreeSampler:
    """Peak summed RSS of a process tree, one ``sample()`` at a time (~0.2 ms of CPU).

    Descendants are found from each pid's ppid in /proc/PID/stat, read once per pid (this
    kernel has no /proc/PID/task/TID/children); RSS from /proc/PID/statm, O(1) to read.
    Not PSS: smaps_rollup walks the page tables, ~80 ms of CPU for a 1.6 GB process, which
    would take a share of the 2 cores from the tool measured."""

    def __init__(self, root: int):
        self.root, self.parents, self.rss = root, {}, 0

    def tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                pid = int(entry.name)
                if pid not in self.parents:
                    try:
                        with open(f"/proc/{pid}/stat", "rb") as stat:
                            self.parents[pid] = int(stat.read().rsplit(b")", 1)[1].split()[1])
                    except (OSError, IndexError, ValueError):
                        continue
                children.setdefault(self.parents[pid], []).append(pid)
        found, todo = [], [self.root]
        while todo:
            found.append(todo.pop())
            todo.extend(children.get(found[-1], ()))
        return found

    def sample(self) -> None:
        rss = 0
        for pid in self.tree():
            try:
                with open(f"/proc/{pid}/statm", "rb") as statm:
                    rss += int(statm.read().split()[1]) * PAGE
            except (OSError, IndexError, ValueError):
                pass  # it exited meanwhile
        self.rss = max(self.rss, rss)


def _no_vfork() -> None:
    """A ``preexec_fn`` makes subprocess fork rather than vfork: a vforked child execs with
    the driver's memory map, so its ru_maxrss would start at the driver's peak RSS. A forked
    one starts at the driver's current RSS (``driver_rss_mb`` in the JSON, ~65 MB)."""


def measure(cmd: list[str], cwd: Path | None = None, env: dict | None = None,
            interval: float = 0.02) -> dict:
    """Run ``cmd`` to the end: wall s, CPU s (its whole tree, from wait4), memory peaks
    (see the module docstring), stdout. Raises if it fails."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=peer_env(**(env or {})), stdout=out,
                                stderr=err, preexec_fn=_no_vfork)
        sampler, done = TreeSampler(proc.pid), threading.Event()

        def sample() -> None:
            while True:
                sampler.sample()
                if done.wait(interval):
                    return

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        thread.join()
        out.seek(0), err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode:
        raise RuntimeError(f"{cmd} exited {proc.returncode}: {stderr[-2000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "rss_mb": sampler.rss / 2**20,
            "maxrss_mb": usage.ru_maxrss / 1024, "stdout": stdout}


# -- the two tools ---------------------------------------------------------------------
class Tool:
    """What both tools do: ``index(folder, data_dir)`` -> (run, photos in its catalog) and
    ``search(folder, data_dir, query)`` -> (run, result paths), a query starting with / being
    an image file."""

    def warm_up(self, photo: Path, image: Path, data_dir: Path) -> dict:
        """Index one photo, run a text and an image query: before the clock, so that the
        first measured round finds caches as the others do (OS files; photofind's graphs)."""
        folder = data_dir.with_name(data_dir.name + "-photo")
        copy_photos([photo], folder)
        runs = [self.index(folder, data_dir)[0], self.search(folder, data_dir, TEXT_QUERY)[0],
                self.search(folder, data_dir, str(image))[0]]
        return {step: round(run["wall_s"], 2) for step, run in zip(["index", "text", "image"], runs)}


class Rclip(Tool):
    """rclip 4.0.8 from its venv; data dir = ``$RCLIP_DATADIR`` (its DB and model files)."""

    name = "rclip"

    def __init__(self, venv: Path, models: dict):
        self.venv, self.models = venv, models

    def index(self, folder: Path, data_dir: Path) -> tuple[dict, int]:
        rclip_datadir(self.models, data_dir)
        code = ("import os; from rclip.main import init_rclip; "
                "r, m, d = init_rclip(os.getcwd(), 8); r.close(); m.close(); d.close()")
        run = measure([str(self.venv / "bin/python"), "-c", code], cwd=folder,
                      env={"RCLIP_DATADIR": str(data_dir)})
        with sqlite3.connect(data_dir / "db.sqlite3") as db:
            count = db.execute("SELECT count(*) FROM images WHERE deleted IS NULL").fetchone()[0]
        return run, count

    def search(self, folder: Path, data_dir: Path, query: str) -> tuple[dict, list[str]]:
        run = measure([str(self.venv / "bin/rclip"), "-n", "-f", "-t", str(TOP_K), query],
                      cwd=folder, env={"RCLIP_DATADIR": str(data_dir)})
        return run, run["stdout"].splitlines()


class Photofind(Tool):
    """The ``photofind`` installed in this interpreter's env (editable: this checkout).

    It exports its ONNX graphs from the weights at first use, into the data dir unless
    ``$PHOTOFIND_ONNX_CACHE`` names a shared folder: here ``.bench-cache/peer/photofind-onnx``,
    filled by the warm-up, so that a fresh data dir holds no more of a model than rclip's
    (whose files are linked in). The warm-up's times say what first use costs."""

    name = "photofind"

    def __init__(self, models: dict):
        exe = shutil.which("photofind") or sys.exit("photofind is not installed here")
        self.base = [exe, "--model", MODEL, "--pretrained", models["safetensors"]]
        self.cache = CACHE / "photofind-onnx"
        self.env = {"PHOTOFIND_ONNX_CACHE": str(self.cache)}

    def cache_state(self) -> set:
        """(path, size, mtime) of its graph cache: a change after the warm-up means that a
        measured run exported graphs (e.g. photofind's code changed the model key meanwhile)."""
        return {(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in self.cache.rglob("*")}

    def index(self, folder: Path, data_dir: Path) -> tuple[dict, int]:
        # --no-text: rclip has no text reading (OCR); photofind's own pass, which runs after
        # embedding at idle priority, is measured by bench_ocr.py
        run = measure([*self.base, "--data-dir", str(data_dir), "index", "--no-text",
                       str(folder)], env=self.env)
        added = re.search(r"Indexed: (\d+) new", run["stdout"])
        return run, int(added.group(1)) if added else 0

    def search(self, folder: Path, data_dir: Path, query: str) -> tuple[dict, list[str]]:
        args = ["--image", query] if query.startswith("/") else [query]
        run = measure([*self.base, "--data-dir", str(data_dir), "search", *args,
                       "-k", str(TOP_K), "--json"], env=self.env)
        return run, [r["path"] for r in json.loads(run["stdout"])]


# -- driver ----------------------------------------------------------------------------
def summary(runs: list[dict], photos: int | None = None) -> dict:
    """Medians of the runs (without their stdout), img/s and CPU ms per photo if indexing."""
    keys = ["wall_s", "cpu_s", "rss_mb", "maxrss_mb"]
    row = {k: round(statistics.median(r[k] for r in runs), 3) for k in keys}
    if photos:
        row["img_s"] = round(statistics.median(photos / r["wall_s"] for r in runs), 3)
        row["cpu_ms_per_photo"] = round(row["cpu_s"] * 1000 / photos, 1)
    return {**row, "runs": [{k: round(r[k], 3) for k in [*keys, "loadavg"]} for r in runs]}


def bench_indexing(tools, sets: dict[str, list[Path]], rounds: int, work: Path) -> dict:
    results, last_dirs = {}, {}
    for set_name, files in sets.items():
        runs = {tool.name: [] for tool in tools}
        for n in range(rounds):
            for tool in tools:
                data_dir = work / f"{tool.name}-{set_name}-{n}"
                run, count = tool.index(files[0].parent, data_dir)
                if count != len(files):
                    raise RuntimeError(f"{tool.name} indexed {count} of {len(files)} photos")
                runs[tool.name].append(run)
                last_dirs[tool.name, set_name] = data_dir
                run["loadavg"] = os.getloadavg()[0]
                log(f"  index {set_name} #{n + 1} {tool.name}: {len(files) / run['wall_s']:.2f} "
                    f"img/s, {run['rss_mb']:.0f} MB, load {run['loadavg']:.1f}")
        results[set_name] = {"photos": len(files),
                             **{t: summary(r, len(files)) for t, r in runs.items()}}
    return results, last_dirs


def bench_queries(tools, folder: Path, data_dirs: dict, image: Path, count: int) -> dict:
    results, tops = {}, {}
    for kind, query in [("text", TEXT_QUERY), ("image", str(image))]:
        runs = {tool.name: [] for tool in tools}
        for n in range(count):
            for tool in tools:
                run, paths = tool.search(folder, data_dirs[tool.name], query)
                if len(paths) != TOP_K:
                    raise RuntimeError(f"{tool.name} {kind} query: {len(paths)} results")
                runs[tool.name].append(run)
                tops[kind, tool.name] = [Path(p).name for p in paths]
                run["loadavg"] = os.getloadavg()[0]
                log(f"  {kind} query #{n + 1} {tool.name}: {run['wall_s']:.2f} s, "
                    f"{run['rss_mb']:.0f} MB, load {run['loadavg']:.1f}")
        results[kind] = {t: summary(r) for t, r in runs.items()}
        results[kind]["top10_overlap"] = len(set(tops[kind, "rclip"]) & set(tops[kind, "photofind"]))
    return results


def table(results: dict) -> str:
    rows = []
    for set_name, row in results["indexing"].items():
        rows += [(f"index {set_name} ({row['photos']}): img/s", "img_s", row),
                 (f"index {set_name}: CPU ms/photo", "cpu_ms_per_photo", row),
                 (f"index {set_name}: peak RSS MB", "rss_mb", row)]
    for kind, row in results["queries"].items():
        rows += [(f"cold {kind} query: s", "wall_s", row),
                 (f"cold {kind} query: peak RSS MB", "rss_mb", row)]
    lines = ["| | rclip | photofind | photofind/rclip |", "|---|---|---|---|"]
    for label, key, row in rows:
        peer, ours = row["rclip"][key], row["photofind"][key]
        lines.append(f"| {label} | {peer:.2f} | {ours:.2f} | {ours / peer:.2f} |")
    return "\n".join(lines)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def warm(files: list[Path]) -> None:
    """Read files once so that no round pays for the disk (the first would, otherwise)."""
    for path in files:
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


def big_photos(sources: list[Path], folder: Path, seed: int = 0) -> list[Path]:
    """bench_indexing's 12-MP photos, cached: made in a temp folder, then renamed."""
    if not folder.is_dir():
        start = time.perf_counter()
        tmp = folder.with_name(folder.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        make_big_photos(sources, tmp, seed)
        tmp.rename(folder)
        log(f"made {len(sources)} 12-MP photos in {time.perf_counter() - start:.0f} s")
    return sorted(folder.glob("*.jpg"))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="Flickr8k photos (default 1000)")
    parser.add_argument("--big-count", type=int, default=200,
                        help="12-MP photos (default 200); one more, not indexed, is the query image")
    parser.add_argument("--rounds", type=int, default=2, help="indexing rounds per tool and set")
    parser.add_argument("--queries", type=int, default=5, help="cold queries per tool and kind")
    parser.add_argument("--peer-venv", type=Path, default=CACHE / "venv")
    parser.add_argument("--peer-python", help="Python >= 3.12 for rclip's venv (default: found)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    sources = sorted(FLICKR.glob("*.jpg"))
    if len(sources) < max(args.count, args.big_count + 1):
        parser.error(f"{FLICKR} has {len(sources)} JPEGs, fewer than asked for")

    CACHE.mkdir(parents=True, exist_ok=True)
    versions = ensure_peer_venv(args.peer_venv, args.peer_python)
    models = prepare_models(CACHE / "model", MODEL, args.peer_venv)
    tools = [Rclip(args.peer_venv, models), Photofind(models)]
    big = big_photos(sources[:args.big_count], CACHE / f"12mp-{args.big_count}")
    query_image, = big_photos(sources[args.big_count:args.big_count + 1],
                              CACHE / f"12mp-query-{args.big_count}", seed=1)
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as tmp:
        work = Path(tmp)
        if args.count == len(sources):
            flickr = sources
        else:
            flickr = copy_photos(sources[:args.count], work / "flickr8k")
        sets = {"flickr8k": flickr, "12mp": big}
        warm([*flickr, *big, query_image, *map(Path, models["files"])])
        warm_up = {tool.name: tool.warm_up(flickr[0], query_image, work / f"{tool.name}-warm-up")
                   for tool in tools}
        log(f"warm-up (s): {warm_up}")
        graphs = tools[1].cache_state()
        results = {
            "model": f"{MODEL} (random weights, seed 0; the same for both)",
            "rclip": {"version": RCLIP_VERSION, **versions, "indexing_batch": 8},
            "photofind": {"path": str(ROOT), "python": platform.python_version()},
            "machine": {"cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
                        "driver_rss_mb": PAGE * int(
                            Path("/proc/self/statm").read_text().split()[1]) / 2**20,
                        "loadavg_start": os.getloadavg()[0]},
            "warm_up_s": warm_up,
            "rounds": args.rounds, "queries": args.queries, "text_query": TEXT_QUERY,
            "query_image": f"{query_image.name} (12 MP, not in the library)",
        }
        results["indexing"], last_dirs = bench_indexing(tools, sets, args.rounds, work)
        data_dirs = {tool.name: last_dirs[tool.name, "flickr8k"] for tool in tools}
        results["queries"] = bench_queries(tools, flickr[0].parent, data_dirs, query_image,
                                           args.queries)
        results["machine"]["loadavg_end"] = os.getloadavg()[0]
        results["photofind"]["exported_during_runs"] = tools[1].cache_state() != graphs
        if results["photofind"]["exported_during_runs"]:
            log("WARNING: photofind exported ONNX graphs during the measured runs; run again")
    text = json.dumps(results, indent=2)
    print(text)
    log(table(results))
    if args.out:
        args.out.write_text(text + "\n")
    return results


if __name__ == "__main__":
    main()
