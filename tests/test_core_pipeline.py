"""End to end on real Flickr8k photos: index → restart → search by text and by image."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import copy_photos, needs_shared

real_photos = needs_shared("flickr8k")  # a marker: checked before `indexed` copies the photos


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, tiny_model):
    from photofind.services.library import PhotoLibrary

    base = tmp_path_factory.mktemp("e2e")
    photos = copy_photos(base / "photos", 50)
    lib = PhotoLibrary(base / "data", model=tiny_model, workers=1)
    report = lib.index([base / "photos"])
    yield lib, base, photos, report
    lib.close()


def cli(data_dir, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "photofind", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})


@real_photos
def test_index_reports_every_photo(indexed):
    lib, _, photos, report = indexed
    assert report.added == 50 and report.errors == 0 and report.encoded == 50
    assert lib.catalog.counts()["photos"] == 50
    assert len(lib.vectors) == 50
    row = lib.catalog.photo_by_path(photos[0])
    assert (row.width, row.height) == (375, 500) and row.content_hash and row.error is None


@real_photos
def test_search_in_a_new_process(indexed):
    _, base, photos, _ = indexed
    query = photos[7]
    done = cli(base / "data", "search", "--image", str(query), "-k", "5", "--json")
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert results[0]["path"] == str(query)
    assert results[0]["score"] == pytest.approx(1.0, abs=1e-2)
    text = cli(base / "data", "search", "a dog runs on the grass", "-k", "10", "--json")
    assert text.returncode == 0, text.stderr
    hits = json.loads(text.stdout)
    assert len(hits) == 10
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


@real_photos
def test_hnsw_equals_brute_force(indexed):
    lib, _, _, _ = indexed
    ids, vectors = lib.catalog.embeddings(lib.model_key)
    queries = lib.embedder.encode_texts(["a dog", "two children", "a mountain", "a red car"])
    for query in queries:
        exact = ids[np.argsort(-(vectors @ query))[:10]].tolist()
        found = [pid for pid, _ in lib.vectors.search(query, 10)]
        assert found == exact


@real_photos
def test_min_score_cuts_results(indexed):
    lib, _, photos, _ = indexed
    results = lib.search(image=photos[3], k=50, min_score=0.999)
    assert [r.path for r in results] == [str(photos[3])]


@real_photos
def test_status_in_cli(indexed):
    _, base, _, _ = indexed
    done = cli(base / "data", "status", "--json")
    status = json.loads(done.stdout)
    assert status["photos"] == 50 and status["errors"] == 0
    assert status["catalog_bytes"] > 0


@real_photos
def test_output_cut_short_by_a_pipe_is_no_error(indexed):
    _, base, _, _ = indexed
    # `true` reads nothing and is gone long before photofind writes: the write always fails
    shell = f"{sys.executable} -m photofind --data-dir {base / 'data'} search dog -k 50 | true"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True,
                          timeout=300)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr


def test_relative_data_dir_is_stored_absolute(tmp_path, monkeypatch):
    from photofind.services.library import PhotoLibrary

    monkeypatch.chdir(tmp_path)
    lib = PhotoLibrary("rel-data", workers=0)
    try:  # paths the catalog keeps inside it (adaptation, reranker) work from any cwd
        assert lib.data_dir == tmp_path / "rel-data" and lib.data_dir.is_absolute()
    finally:
        lib.close()


@real_photos
def test_empty_query_is_a_clear_error(indexed):
    _, base, _, _ = indexed
    done = cli(base / "data", "search")
    assert done.returncode == 2 and "give a text query" in done.stderr
    assert "Traceback" not in done.stderr


def test_large_libraries_search_more_broadly():
    """HNSW recall falls as the graph grows; past `large_library` photos the search widens."""
    from photofind.index.hnsw import HnswParams, VectorIndex

    vectors = np.random.default_rng(0).normal(size=(120, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = VectorIndex.build(np.arange(99), vectors[:99], 8, HnswParams(ef=16, large_library=100))
    index.search(vectors[0], 5)
    assert index.ef == 16
    index.add(np.arange(99, 120), vectors[99:])
    assert [pid for pid, _ in index.search(vectors[110], 5)][0] == 110
    assert index.ef == 32
    assert index.search(vectors[0], 40) and index.ef == 40  # never below k


def test_decoders_are_threads_where_the_model_runs_on_the_cpu(tmp_path, tiny_model,
                                                               monkeypatch):
    """On a CPU the decoders share the model's process (no Python, numpy and Pillow of
    their own, no pixels pickled across); ``PHOTOFIND_DECODERS=processes`` (the choice
    with an accelerator) spawns them, to the same photos and vectors."""
    import multiprocessing

    from photofind.services.library import PhotoLibrary

    from conftest import make_photos

    make_photos(tmp_path / "photos", 12)
    found = {}
    for decoders in ("", "processes"):
        monkeypatch.setenv("PHOTOFIND_DECODERS", decoders)
        before = set(multiprocessing.active_children())
        lib = PhotoLibrary(tmp_path / f"data-{decoders}", model=tiny_model, workers=2)
        assert lib.index([tmp_path / "photos"]).added == 12 and lib.embedder.runs_on_cpu
        spawned = set(multiprocessing.active_children()) - before
        assert len(spawned) == (2 if decoders else 0), spawned
        found[decoders] = dict(zip(*lib.catalog.embeddings(lib.model_key)))
        lib.close()
    assert found[""].keys() == found["processes"].keys()
    for photo, vector in found[""].items():
        assert np.array_equal(vector, found["processes"][photo])
