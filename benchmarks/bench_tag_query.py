"""What a query naming a tag costs at 100k photos: the tag's sign (search/examples.py).

    python3 benchmarks/bench_tag_query.py [--photos 100000] [--tags 300] [--queries 20]

A real catalog (SQLite) of ``--photos`` photos, each with one to three of ``--tags`` tag
names (a few used on thousands of photos, most on a few dozen, as keywords are), and a real
HNSW index of random unit vectors of the default model's width (512) for the same ids. In
one run, for queries that name a tag and for queries that name none: the whole
``SearchEngine.search`` (text matching on, as the app searches), and the parts of a tag
query's extra work: the tag's photos, the spread sample of the rest, which of those carry
other tags, fetching the vectors, and the discriminant itself. The text tower is a tiny random
model, so the numbers are the look-up's cost, not the model's. Prints JSON on stdout and a
table on stderr.
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

import numpy as np
import synthetic_catalog

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

WIDTH = 512  # ViT-B-32's embedding width


def ms(samples: list[float]) -> float:
    return round(1000 * statistics.median(samples), 2)


def tiny_model_of_width(folder: Path, width: int):
    """The tests' tiny random model, its embedding as wide as the default model's (the
    discriminant's cost grows with the width)."""
    from photofind.embed.spec import ModelSpec

    from tinymodel import TINY_VIT, write_tiny_model

    config, weights = write_tiny_model(folder, {**TINY_VIT, "embed_dim": width})
    return ModelSpec("tiny-vit", str(weights), str(config))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--tags", type=int, default=300)
    parser.add_argument("--queries", type=int, default=20)
    args = parser.parse_args()
    from photofind.library.metadata import TextItem
    from photofind.search import examples
    from photofind.services.library import PhotoLibrary

    rng = random.Random(0)
    names = [f"tag{i:03d}" for i in range(args.tags)]
    weights = [1 / (i + 1) for i in range(args.tags)]  # Zipf: tag000 on most photos
    with tempfile.TemporaryDirectory(prefix="bench-tag-query-") as tmp:
        spec = tiny_model_of_width(Path(tmp) / "model", WIDTH)
        lib = PhotoLibrary(Path(tmp) / "data", workers=0, model=spec)
        dim = lib.embedder.dim

        def tags_of(i: int) -> list:
            tags = set(rng.choices(names, weights, k=rng.randint(1, 3)))
            return [TextItem("tag", t, "bench", "") for t in sorted(tags)]

        built = synthetic_catalog.fill(lib, synthetic_catalog.unit_vectors(args.photos, dim),
                                       tags_of)
        lib.vectors  # noqa: B018 - built from the catalog's stored vectors, before timing
        counts = {name: len(lib.catalog.tagged_ids(name)) for name in names}
        tag_queries = [names[i] for i in range(0, args.tags, max(1, args.tags // args.queries))]
        other_queries = [f"photo {i}" for i in range(len(tag_queries))]
        parts = {"tagged_ids": [], "sample": [], "tagged_among": [], "vectors": [],
                 "discriminant": []}
        tag_search, plain_search = [], []
        for query, plain in zip(tag_queries, other_queries):
            start = time.perf_counter()
            ids = lib.catalog.tagged_ids(query)
            parts["tagged_ids"].append(time.perf_counter() - start)
            start = time.perf_counter()
            sample = examples.spread(sorted(lib.vectors.ids - set(ids)), examples.SAMPLE)
            parts["sample"].append(time.perf_counter() - start)
            start = time.perf_counter()
            other = lib.catalog.tagged_among(sample)
            parts["tagged_among"].append(time.perf_counter() - start)
            start = time.perf_counter()
            chosen = sorted(set(examples.spread(other, examples.MAX_OTHERS)) |
                            set(examples.spread(sample, examples.MAX_OTHERS)))
            tagged, others = (lib.vectors.vectors(examples.spread(ids)),
                              lib.catalog.embeddings(lib.model_key, chosen)[1])
            parts["vectors"].append(time.perf_counter() - start)
            start = time.perf_counter()
            made = examples.Examples.of(tagged, len(ids), others)
            parts["discriminant"].append(time.perf_counter() - start)
            assert made.sign is not None
            # the parts above retrace SearchEngine.tag_examples: the same sign, or the
            # parts' times describe some other computation
            assert np.allclose(made.sign, lib.engine.tag_examples(query).sign, atol=1e-5)
            start = time.perf_counter()
            found = lib.search(query, k=20)
            tag_search.append(time.perf_counter() - start)
            assert found.tag_photos == counts[query]
            start = time.perf_counter()
            lib.search(plain, k=20)
            plain_search.append(time.perf_counter() - start)
        lib.close()
    result = {"photos": args.photos, "tags": args.tags, "width": dim,
              "queries": len(tag_queries), "catalog_build_s": round(built, 1),
              "photos_per_tag_queried": sorted(counts[q] for q in tag_queries),
              "search_naming_a_tag_ms": ms(tag_search),
              "search_naming_none_ms": ms(plain_search),
              "ratio": round(statistics.median(tag_search) / statistics.median(plain_search), 2),
              **{f"{part}_ms": ms(samples) for part, samples in parts.items()}}
    print(json.dumps(result, indent=2))
    print(f"\n| photos | search naming a tag | naming none | ratio | tag's photos | sample "
          f"| which carry tags | vectors | discriminant |\n|---|---|---|---|---|---|---|---|---|\n"
          f"| {args.photos:,} | {result['search_naming_a_tag_ms']} ms | "
          f"{result['search_naming_none_ms']} ms | {result['ratio']}× | "
          f"{result['tagged_ids_ms']} ms | {result['sample_ms']} ms | "
          f"{result['tagged_among_ms']} ms | {result['vectors_ms']} ms | "
          f"{result['discriminant_ms']} ms |", file=sys.stderr)


if __name__ == "__main__":
    main()
