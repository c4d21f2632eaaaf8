"""Faults as a benchmark: kill -9 while indexing, and concurrent writers with a searcher.

    python3 benchmarks/bench_faults.py [--photos 300] [--kills 20] [--rounds 5] [--seed 0]
                                       [--model-config C --pretrained W] [--out FILE]

Part 1, kills: ``photofind index`` of ``--photos`` generated JPEGs is killed with SIGKILL
``--kills`` times (a library that is complete before the last kill is followed by a fresh
one), each at a random moment (uniform over the process's start-up plus the time
~photos/kills photos take, measured first, so the kills spread over the whole folder and hit
every point of a batch's cycle: decoding, encoding, committing, saving the index), then run
once to the end. After each kill a ``photofind search`` times the
recovery (opening a library whose index file lags its catalog). Counted at the end:
- lost: photos of the folder without a stored embedding after the clean run;
- unfindable: photos with an embedding that the index file on disk does not hold, or that a
  search over everything does not return;
- re-embedded: photos saved again by a later run although their embedding was already
  committed (their ``indexed_at`` changed); the batch in flight at a kill was never committed,
  so the target is at most one batch per kill and the expectation 0.

Part 2, concurrent writers: ``--rounds`` rounds on a fresh data dir, each with two ``index``
runs on disjoint halves of the photos started together, and a third process searching in a
loop meanwhile; after each round: unfindable photos (as above), searches that failed.

The model is a small random ViT built here (``SMALL_VIT``; ``--model-config`` /
``--pretrained`` take another). Prints JSON on stdout and a short table
on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


# A small random ViT (ViT-S/32-like image tower): indexing takes seconds, not a fraction of
# one, so the kills land at every point of a run; faults do not depend on the model's size.
SMALL_VIT = {
    "embed_dim": 256,
    "vision_cfg": {"image_size": 224, "layers": 6, "width": 384, "patch_size": 32,
                   "head_width": 64},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 128, "heads": 2,
                 "layers": 2},
}


def photofind(data_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "photofind", "--data-dir", str(data_dir), *args]


def run(command: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)


def saved_at(data_dir: Path) -> dict[int, float]:
    """photo id → indexed_at of the photos with a committed embedding."""
    path = data_dir / "catalog.sqlite3"
    if not path.exists():
        return {}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return dict(db.execute("SELECT p.id, p.indexed_at FROM photos p JOIN embeddings e "
                               "ON e.photo_id = p.id"))


def index_file_ids(data_dir: Path) -> set[int]:
    stamps = list((data_dir / "index").glob("*.json"))
    return set(json.loads(stamps[0].read_text())["live"]) if stamps else set()


def unfindable(data_dir: Path, env: dict) -> dict:
    """Embedded photos missing from the index file, and from a search over everything."""
    stored = set(saved_at(data_dir))
    missing_on_disk = len(stored - index_file_ids(data_dir))
    found = run(photofind(data_dir, "search", "a photo", "-k", str(len(stored) + 10),
                          "--json"), env)
    returned = {r["id"] for r in json.loads(found.stdout)} if found.returncode == 0 else set()
    return {"not_in_index_file": missing_on_disk, "not_returned": len(stored - returned),
            "search_failed": found.returncode != 0}


def kills(folder: Path, count: int, model_args: list[str], env: dict, rng: random.Random,
          work: Path) -> dict:
    first = next(folder.iterdir())
    run(photofind(work / "export", *model_args, "index", str(first)), env)  # the export, once
    start = time.monotonic()
    run(photofind(work / "startup", *model_args, "index", str(first)), env)
    startup = time.monotonic() - start
    start = time.monotonic()
    done = run(photofind(work / "timing", *model_args, "index", str(folder)), env)
    whole = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    photos = len(list(folder.iterdir()))
    rate = (photos - 1) / max(whole - startup, 1e-3)  # photos per second once started
    re_embedded, recoveries, progress, sessions = [], [], [], []
    share = photos / count  # photos a kill may let through on average
    window = startup + share / rate
    while len(progress) < count:  # a library finished before the last kill: a fresh one
        data = work / f"killed-{len(sessions)}"
        run(photofind(data, *model_args, "index", str(first)), env)
        while len(progress) < count and len(saved_at(data)) < photos:
            before = saved_at(data)
            # a random moment of the start-up and the next ~photos/kills photos, so that the
            # kills spread over the whole folder and land at every point of a batch's cycle
            process = subprocess.Popen(photofind(data, "index", str(folder)), env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.2, window))
            process.send_signal(signal.SIGKILL)
            process.wait()
            after = saved_at(data)
            re_embedded.append(sum(1 for pid, at in before.items() if after.get(pid) != at))
            progress.append(len(after))
            made = len(after) - len(before)  # kills keep landing before the first batch, or
            window *= 1.3 if made == 0 else 0.7 if made > 2 * share else 1.0  # late: adapt
            start = time.monotonic()
            searched = run(photofind(data, "search", "a photo", "-k", "5"), env)
            recoveries.append(time.monotonic() - start)
            assert searched.returncode == 0, searched.stderr
        before = saved_at(data)
        final = run(photofind(data, "index", str(folder)), env)
        after = saved_at(data)
        re_embedded.append(sum(1 for pid, at in before.items() if after.get(pid) != at))
        sessions.append({"final_rc": final.returncode, "lost": photos - len(after),
                         **unfindable(data, env)})
    return {"photos": photos, "kills": len(progress), "libraries": len(sessions),
            "whole_run_s": round(whole, 2), "startup_s": round(startup, 2),
            "embedded_after_each_kill": progress,
            "final_rc": max(x["final_rc"] for x in sessions),
            "lost": sum(x["lost"] for x in sessions),
            "not_in_index_file": sum(x["not_in_index_file"] for x in sessions),
            "not_returned": sum(x["not_returned"] for x in sessions),
            "re_embedded_total": sum(re_embedded), "re_embedded_max_per_kill": max(re_embedded),
            "recovery_s_median": round(statistics.median(recoveries), 3),
            "recovery_s_max": round(max(recoveries), 3)}


def concurrent(halves: list[Path], rounds: int, model_args: list[str], env: dict,
               work: Path) -> list[dict]:
    results = []
    for number in range(rounds):
        data = work / f"concurrent-{number}"
        run(photofind(data, *model_args, "index", str(next(halves[0].iterdir()))), env)
        writers = [subprocess.Popen(photofind(data, "index", str(half)), env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True) for half in halves]
        searches = failures = 0
        while any(w.poll() is None for w in writers):
            found = run(photofind(data, "search", "a photo", "-k", "5"), env)
            searches += 1
            failures += found.returncode != 0 or "Traceback" in found.stderr
        waited = sum("waiting" in w.stderr.read() for w in writers)
        photos = sum(len(list(h.iterdir())) for h in halves)
        results.append({"round": number, "writers_rc": [w.returncode for w in writers],
                        "second_writer_waited": waited, "lost": photos - len(saved_at(data)),
                        **unfindable(data, env), "searches": searches,
                        "searches_failed": failures})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model-config")
    parser.add_argument("--pretrained")
    parser.add_argument("--out")
    args = parser.parse_args()
    from conftest import make_photos
    from tinymodel import write_tiny_model

    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        work = Path(tmp)
        if args.model_config:
            config, weights = args.model_config, args.pretrained
        else:
            config, weights = write_tiny_model(work / "model", SMALL_VIT, name="small-vit")
        model_args = ["--model", "bench", "--model-config", str(config),
                      "--pretrained", str(weights)]
        env = {**os.environ, "PHOTOFIND_ONNX_CACHE": str(work / "onnx")}
        folder = work / "photos"
        make_photos(folder, args.photos)
        halves = [work / "half-a", work / "half-b"]
        make_photos(halves[0], args.photos // 2, start=10_000)
        make_photos(halves[1], args.photos - args.photos // 2, start=20_000)
        result = {"kills": kills(folder, args.kills, model_args, env, rng, work),
                  "concurrent": concurrent(halves, args.rounds, model_args, env, work)}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    k = result["kills"]
    print(f"\nkill -9 x{k['kills']} while indexing {k['photos']} photos ({k['libraries']} "
          f"libraries): lost {k['lost']}, "
          f"unfindable {k['not_in_index_file']}/{k['not_returned']} (index file/search), "
          f"re-embedded {k['re_embedded_total']} (max {k['re_embedded_max_per_kill']} per kill), "
          f"recovery {k['recovery_s_median']} s median / {k['recovery_s_max']} s max",
          file=sys.stderr)
    for r in result["concurrent"]:
        print(f"round {r['round']}: writers {r['writers_rc']}, waited {r['second_writer_waited']},"
              f" lost {r['lost']}, unfindable {r['not_in_index_file']}/{r['not_returned']}, "
              f"searches {r['searches']} ({r['searches_failed']} failed)", file=sys.stderr)


if __name__ == "__main__":
    main()
