"""Query latency, HNSW recall and reranker cost (issue 7/8 performance figures).

* latency p50/p95 of a full text query (text encode + HNSW + filter + rerank of the top 50)
  at 10k and 100k photos: synthetic unit vectors for the index, a real text tower forward
  (ViT-B-32 architecture, random weights: same cost as the pretrained model), a real token
  store, cross-encoder head and neighbours' texts (a tenth of the photos described, at most
  5,000); baseline: exact brute-force search in the same run;
* HNSW recall@10 against exact search and query time per search ``ef``: on the bench
  model's real embeddings of 6,091 photos (caption queries), and at 100k (1M with
  --million) vectors, both clustered isotropic ones and ones drawn with the real
  embeddings' mean and covariance (caption-like queries);
* peak memory of the process.

Prints JSON and a markdown table. Usage: python benchmarks/bench_search.py [--million]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from photofind.adapt.cross_encoder import CrossEncoder, numpy_head
from photofind.index.hnsw import HnswParams, VectorIndex
from photofind.index.tokens import TokenStore
from photofind.search.neighbours import NeighbourTexts
from photofind.search.rerank import Reranker, rerank


def unit(rows: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(64, dim)).astype(np.float32)  # clustered, like real photos
    data = centres[rng.integers(0, 64, rows)] + 0.6 * rng.normal(size=(rows, dim)).astype(
        np.float32)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


def percentiles(samples: list[float]) -> dict:
    ms = np.asarray(samples) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2)}


def text_encoders(cache: Path) -> dict:
    """ViT-B-32 (random weights) through both runtimes: the app's ONNX Runtime path and torch
    as the baseline of the same run."""
    from bench_onnx import random_vit

    from photofind.embed.encoder import Embedder
    from photofind.embed.runtime import open_embedder

    onnx = open_embedder(random_vit("ViT-B-32", cache.parent), "cpu", cache)
    return {"onnxruntime": onnx, "torch": Embedder(onnx.loaded)}


def latency(size: int, encoders: dict, queries: list[str], work: Path) -> dict:
    dim = 512
    vectors = unit(size, dim, seed=size)
    ids = np.arange(1, size + 1)
    started = time.perf_counter()
    index = VectorIndex.build(ids, vectors, dim)
    build_s = time.perf_counter() - started
    store = TokenStore(work / f"tokens-{size}", "bench", dim)
    for start in range(0, size, 20000):
        chunk = ids[start:start + 20000]
        store.put(chunk, np.random.default_rng(start).normal(
            size=(len(chunk), 16, dim)).astype(np.float16))
    labelled = min(size // 10, 5000)  # a tenth of the library described, 3 texts each
    neighbours = NeighbourTexts(ids[:labelled], vectors[:labelled].astype(np.float16),
                                unit(3 * labelled, dim, seed=1).astype(np.float16),
                                np.arange(0, 3 * labelled, 3))
    head = Reranker(numpy_head(CrossEncoder(dim)), 0.25, {}, neighbours, 0.4)
    allowed = set(ids[::2].tolist())  # a filter keeping half the library
    out = {"build_s": round(build_s, 1), "token_bytes_per_photo": store.row_bytes}
    for runtime, encoder in encoders.items():
        out[runtime] = query_timings(encoder, index, store, neighbours, head, allowed,
                                     vectors, queries)
    return out


def query_timings(encoder, index, store, neighbours, head, allowed, vectors, queries) -> dict:
    timings = {"hnsw": [], "hnsw_filtered": [], "exact": [], "full_query": [],
               "text_encode": [], "rerank_only": [], "neighbours_only": []}
    query_vectors = []
    for text in queries:
        t0 = time.perf_counter()
        pooled, tokens, mask = encoder.text_tokens([text])
        query = pooled[0]
        t1 = time.perf_counter()
        hits = index.search(query, 50, allowed.__contains__)
        t2 = time.perf_counter()
        top = [pid for pid, _ in hits]
        rerank(hits, head.bonus(tokens, mask, query, top, lambda ids: store.get(ids)[0],
                                index.vectors))
        t3 = time.perf_counter()
        candidates = index.vectors(top)
        alone = time.perf_counter()
        neighbours.scores(query, top, candidates)  # its share of the rerank, timed again
        timings["neighbours_only"].append(time.perf_counter() - alone)
        timings["full_query"].append(t3 - t0)
        timings["rerank_only"].append(t3 - t2)
        timings["text_encode"].append(t1 - t0)
        timings["hnsw_filtered"].append(t2 - t1)
        query_vectors.append(query)
    # The baselines in a loop of their own: numpy's BLAS threads keep spinning after a large
    # product and would slow the next query's text forward, which the app never does.
    for query in query_vectors:
        t4 = time.perf_counter()
        index.search(query, 50)
        t5 = time.perf_counter()
        np.argpartition(-(vectors @ query), 50)[:50]
        timings["hnsw"].append(t5 - t4)
        timings["exact"].append(time.perf_counter() - t5)
    out = {f"{name}": percentiles(values) for name, values in timings.items()}
    out["hnsw_speedup_vs_exact"] = round(out["exact"]["p50_ms"] / max(out["hnsw"]["p50_ms"],
                                                                       1e-3), 1)
    return out


BENCH_MODEL = Path(__file__).resolve().parents[1] / ".bench-cache" / "bench-model"


def real_embeddings() -> tuple[np.ndarray, np.ndarray] | None:
    """The bench model's unit image and caption embeddings of the 6,091 Flickr8k training
    photos (from its build cache), or None when the bench model is not built."""
    features = BENCH_MODEL / "cache" / "flickr8k-train-features.pt"
    if not features.exists():
        return None
    from safetensors.torch import load_file

    cached = torch.load(features, weights_only=True)
    weights = load_file(str(BENCH_MODEL / "bench-lit.safetensors"))
    image = cached["image_features"].float() @ weights["visual.head.proj.weight"].float().T
    text = cached["text_features"].float() @ weights["text.proj.weight"].float().T
    return (torch.nn.functional.normalize(image, dim=-1).numpy(),
            torch.nn.functional.normalize(text, dim=-1).numpy())


def like(real: np.ndarray, rows: int, seed: int) -> np.ndarray:
    """Unit vectors from a Gaussian with the real embeddings' mean and covariance: their
    anisotropy (low intrinsic dimension) is what decides HNSW recall, which isotropic random
    vectors in 512 dimensions badly understate."""
    rng = np.random.default_rng(seed)
    mean, cov = real.mean(0), np.cov(real, rowvar=False)
    data = rng.multivariate_normal(mean, cov, size=rows, method="cholesky").astype(np.float32)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


def recall(vectors: np.ndarray, probes: np.ndarray, efs=(64, 128, 256, 512), M: int = 16
           ) -> dict:
    """HNSW recall@10 against exact search and query time, for each search-time ef."""
    started = time.perf_counter()
    index = VectorIndex.build(np.arange(len(vectors)), vectors, vectors.shape[1],
                              HnswParams(M=M))
    out = {"vectors": len(vectors), "M": M, "build_s": round(time.perf_counter() - started, 1)}
    exact = [set(np.argpartition(-(vectors @ probe), 10)[:10].tolist()) for probe in probes]
    for ef in efs:
        found, started = 0, time.perf_counter()
        for probe, truth in zip(probes, exact):
            found += len(truth & {pid for pid, _ in index.search(probe, 10, ef=ef)})
        out[f"ef{ef}"] = {"recall@10": round(found / (10 * len(probes)), 4),
                          "query_ms": round(1000 * (time.perf_counter() - started)
                                            / len(probes), 3)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--million", action="store_true", help="also 1M vectors (slow)")
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--no-recall", action="store_true", help="latency only")
    args = parser.parse_args()
    torch.set_num_threads(2)
    encoders = text_encoders(BENCH_MODEL.parent / "onnx")
    queries = [f"a photo of {w} on a sunny day" for w in
               ("a dog", "two children", "a red kayak", "grandma's birthday cake", "a beach",
                "snowy mountains", "a man on a bike", "a city at night")] * (args.queries // 8)
    result = {"latency": {}, "recall": {}}
    with tempfile.TemporaryDirectory() as work:
        for size in (10_000, 100_000):
            result["latency"][str(size)] = latency(size, encoders, queries, Path(work))
    real = None if args.no_recall else real_embeddings()
    probes = unit(200, 512, seed=8)
    if real is not None:
        images, texts = real
        probes = texts[np.random.default_rng(8).choice(len(texts), 200, replace=False)]
        result["recall"]["real 6091"] = recall(images, probes)
    for size in () if args.no_recall else (100_000,) + ((1_000_000,) if args.million else ()):
        result["recall"][f"clustered {size}"] = recall(unit(size, 512, seed=7), probes)
        if real is not None:
            vectors = like(real[0], size, seed=7)
            result["recall"][f"real-like {size}"] = recall(vectors, probes)
            result["recall"][f"real-like {size} M=32"] = recall(vectors, probes, M=32)
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result, indent=2))
    print("\n| photos | text runtime | full query p50/p95 ms | text forward p50 ms | "
          "rerank top-50 p50 ms | of which look-alikes' texts ms | HNSW p50 ms | "
          "exact p50 ms | HNSW speed-up |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size, runtime, row in ((size, runtime, row) for size, by in result["latency"].items()
                               for runtime, row in by.items() if runtime in encoders):
        print(f"| {size} | {runtime} | {row['full_query']['p50_ms']} / "
              f"{row['full_query']['p95_ms']} | "
              f"{row['text_encode']['p50_ms']} | "
              f"{row['rerank_only']['p50_ms']} | {row['neighbours_only']['p50_ms']} | "
              f"{row['hnsw']['p50_ms']} | "
              f"{row['exact']['p50_ms']} | {row['hnsw_speedup_vs_exact']}× |")
    print("\n| vectors | M | build s | " + " | ".join(
        f"ef={ef} recall@10 (ms)" for ef in (64, 128, 256, 512)) + " |")
    print("|---|---|---|---|---|---|---|")
    for name, row in result["recall"].items():
        cells = " | ".join(f"{row[f'ef{ef}']['recall@10']} ({row[f'ef{ef}']['query_ms']})"
                           for ef in (64, 128, 256, 512))
        print(f"| {name} | {row['M']} | {row['build_s']} | {cells} |")


if __name__ == "__main__":
    main()
