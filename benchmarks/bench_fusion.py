"""Text-match fusion at 100k photos: the caption/tag half of a hybrid query.

    python3 benchmarks/bench_fusion.py [--photos 100000] [--queries 30]

A real catalog (SQLite, FTS5) of ``--photos`` photos, each with one caption drawn from a
small vocabulary (so a query word matches thousands of photos, as "beach" does in a real
library), and a real HNSW index of random unit vectors for the same ids. For each query:
the FTS5 match (``Catalog.text_matches``, the pool of 100 the search asks for), then the
check that each matched photo is in the index, two ways in one run:

- ``per match``: ``pid in index.ids`` inside the loop (the code before issue 19's fix: the
  ``ids`` property copies the live-id set under the lock, once per match);
- ``once``: the set copied once per query (the code now, ``SearchEngine.search``).

Then a whole ``SearchEngine.search`` with text matching on and off (the model is a tiny
random one, so the numbers are the fusion's cost, not the text tower's). Prints JSON on
stdout and a table on stderr.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import synthetic_catalog

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

WORDS = ("dog beach red kayak lake birthday cake grandma snow mountain bike child ball park "
         "city night street market boat river sunset flower garden cat window car road "
         "family dinner table wedding dress").split()


def ms(samples: list[float]) -> float:
    return round(1000 * statistics.median(samples), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=30)
    args = parser.parse_args()
    from photofind.embed.spec import ModelSpec
    from photofind.library.metadata import TextItem
    from photofind.search.hybrid import fts_query
    from photofind.services.library import PhotoLibrary

    from tinymodel import write_tiny_model

    rng = random.Random(0)
    with tempfile.TemporaryDirectory(prefix="bench-fusion-") as tmp:
        config, weights = write_tiny_model(Path(tmp) / "model")
        lib = PhotoLibrary(Path(tmp) / "data", workers=0,
                           model=ModelSpec("tiny-vit", str(weights), str(config)))
        built = synthetic_catalog.fill(
            lib, synthetic_catalog.unit_vectors(args.photos, lib.embedder.dim),
            lambda i: [TextItem("caption", " ".join(rng.sample(WORDS, 6)), "bench", "")])
        index = lib.vectors  # built from the catalog's stored vectors
        queries = [" ".join(rng.sample(WORDS, 2)) for _ in range(args.queries)]
        fts, per_match, once, hybrid, plain, matched = [], [], [], [], [], []
        for query in queries:
            start = time.perf_counter()
            hits = lib.catalog.text_matches(fts_query(query), 100)
            fts.append(time.perf_counter() - start)
            matched.append(len(hits))
            start = time.perf_counter()
            kept_a = [pid for pid, _ in hits if pid in index.ids]
            per_match.append(time.perf_counter() - start)
            start = time.perf_counter()
            live = index.ids
            kept_b = [pid for pid, _ in hits if pid in live]
            once.append(time.perf_counter() - start)
            assert kept_a == kept_b
            start = time.perf_counter()
            lib.search(query, k=20)
            hybrid.append(time.perf_counter() - start)
            start = time.perf_counter()
            lib.search(query, k=20, hybrid=False)
            plain.append(time.perf_counter() - start)
        lib.close()
    result = {"photos": args.photos, "queries": args.queries, "catalog_build_s": round(built, 1),
              "matches_per_query": statistics.median(matched),
              "fts_match_ms": ms(fts), "live_check_per_match_ms": ms(per_match),
              "live_check_once_ms": ms(once),
              "speedup": round(statistics.median(per_match) / statistics.median(once), 1),
              "search_hybrid_ms": ms(hybrid), "search_vector_only_ms": ms(plain)}
    print(json.dumps(result, indent=2))
    print(f"\n| photos | FTS match (pool 100) | live check per match | once | search with text "
          f"match | without |\n|---|---|---|---|---|---|\n| {args.photos:,} | "
          f"{result['fts_match_ms']} ms | {result['live_check_per_match_ms']} ms | "
          f"{result['live_check_once_ms']} ms ({result['speedup']}x) | "
          f"{result['search_hybrid_ms']} ms | {result['search_vector_only_ms']} ms |",
          file=sys.stderr)


if __name__ == "__main__":
    main()
