"""Faults found by probing as an unlucky user would (issue "Fault sweep"): real processes
killed, a real full disk (a small tmpfs), damaged files on disk, a tampered index stamp."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from photofind.adapt.cross_encoder import CrossEncoder, numpy_head
from photofind.adapt.store import Adaptation, AdaptConfig
from photofind.index.hnsw import stamp_path
from photofind.search.filters import SearchFilters
from photofind.search.rerank import Reranker
from photofind.services import adapting, artefacts
from photofind.services.library import PhotoLibrary

import probes
from conftest import make_photos
from probes import clean, cli, cli_env, fill, group_members, model_args, photos_saved, wait_for

onnx_cache, small_disk = probes.onnx_cache, probes.small_disk  # fixtures


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("command,sig", [("index", signal.SIGKILL), ("index", signal.SIGTERM),
                                         ("watch", signal.SIGKILL)])
def test_no_process_outlives_a_killed_command(tmp_path, tiny_model, onnx_cache, command, sig):
    photos = make_photos(tmp_path / "photos", 300)
    data = tmp_path / "data"
    # decoder processes, as with an accelerator (on a CPU they are threads): the ones to
    # see gone with their parent
    env = {**cli_env(onnx_cache), "PHOTOFIND_DECODERS": "processes"}
    cli(data, *model_args(tiny_model), "index", str(photos[0]), env=env)  # export once
    process = subprocess.Popen(
        [sys.executable, "-m", "photofind", "--data-dir", str(data), "--workers", "1",
         command, str(tmp_path / "photos")], env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # under way: the decoder process (and the resource tracker) run, batches are saved
        # (> 1: the export run above saved one photo already)
        assert wait_for(lambda: len(group_members(process.pid)) >= 3 and
                        photos_saved(data) > 1, 60), group_members(process.pid)
        assert process.poll() is None  # still at work when killed, or nothing was tested
        os.kill(process.pid, sig)
        process.wait(30)
        assert wait_for(lambda: not group_members(process.pid), 5), group_members(process.pid)
        if sig == signal.SIGTERM:  # a clean stop: the same words as Ctrl+C, no traceback
            stderr = process.stderr.read().decode()
            assert process.returncode == 130 and "interrupted" in stderr, stderr
            assert "Traceback" not in stderr
    finally:
        for line in group_members(process.pid):
            os.kill(int(line.split()[0]), signal.SIGKILL)
        process.stderr.close()


# -- a full disk ----------------------------------------------------------------------------
def test_full_disk_stops_cleanly_and_the_library_still_answers(tmp_path, tiny_model,
                                                               onnx_cache, small_disk):
    make_photos(tmp_path / "photos" / "first", 40)
    make_photos(tmp_path / "photos" / "more", 260, start=40)
    data, env = small_disk / "data", cli_env(onnx_cache)
    first = cli(data, *model_args(tiny_model), "index", str(tmp_path / "photos" / "first"),
                env=env)
    assert first.returncode == 0, first.stderr
    fill(small_disk, leave=48 * 1024)  # room for a few batches, not for 260 photos
    done = cli(data, "index", str(tmp_path / "photos"), env=env)
    # before: a traceback ("database or disk is full"), or SIGBUS (rc -7) in the token store
    assert done.returncode == 1, (done.returncode, done.stderr)
    clean(done)
    assert "is full" in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    fill(small_disk)  # not a byte left: opening the catalog may not write either
    status = cli(data, "status", "--json", env=env)
    clean(status)
    kept = json.loads(status.stdout)["photos"]
    assert status.returncode == 0 and 40 <= kept < 300
    found = cli(data, "search", "a photo", "-k", "5", "--json", env=env)
    clean(found)
    assert found.returncode == 0 and len(json.loads(found.stdout)) == 5
    again = cli(data, "index", str(tmp_path / "photos"), env=env)
    clean(again)
    assert again.returncode == 1 and "is full" in again.stderr
    uri = (data / "catalog.sqlite3").as_uri() + "?mode=ro&immutable=1"
    with sqlite3.connect(uri, uri=True) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    # space again: the run goes on where it stopped, nothing indexed twice
    (small_disk / "filler").unlink(missing_ok=True)
    resumed = cli(data, "index", str(tmp_path / "photos"), env=env)
    clean(resumed)
    assert resumed.returncode == 0
    assert f"{300 - kept} new" in resumed.stdout and f"{kept} unchanged" in resumed.stdout


# -- trained files: where they are and whether they are whole --------------------------------
def adapted_library(path: Path, spec) -> tuple[PhotoLibrary, list[Path]]:
    """A library with an active (random) residual adapter and a re-ranker, as `adapt` leaves
    them: files under the data dir, recorded in the catalog."""
    photos = make_photos(path / "photos", 12)
    (path / "photos" / "one").mkdir()
    photos.append(make_photos(path / "photos" / "one", 1, start=50)[0])
    lib = PhotoLibrary(path / "data", model=spec, workers=0)
    lib.index([path / "photos"])
    base = lib.embedder
    torch.manual_seed(0)
    trained = Adaptation(base.model, base.loaded.tokenizer, AdaptConfig(text=False, visual=False,
                                                                       adapter=True), 64, 32)
    with torch.no_grad():
        for parameter in trained.adapter.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    workdir = adapting.adaptation_dir(lib, base.key)
    trained.save(workdir / "adapter.safetensors")
    adapting.activate(lib, base, workdir / "adapter.safetensors")
    head = CrossEncoder(32)
    torch.nn.init.normal_(head.word_weight.weight)
    Reranker(numpy_head(head), 0.5, {"note": "test"}).save(workdir / "rerank.safetensors")
    artefacts.remember(lib, artefacts.RERANK, lib.model_key, workdir / "rerank.safetensors")
    lib.embedder = lib.embedder  # load the reranker on next use
    return lib, photos


@pytest.fixture
def adapted(tmp_path, tiny_model):
    lib, photos = adapted_library(tmp_path, tiny_model)
    yield lib, photos
    lib.close()


def test_adapted_library_answers_every_filter_combination(adapted, tmp_path):
    lib, photos = adapted
    assert lib.reranker is not None and "|adapted:" in lib.model_key
    one, many = str(tmp_path / "photos" / "one"), str(tmp_path / "photos")
    for folder, expected in ((None, 13), ("/nowhere", 0), (one, 1), (many, 13)):
        for camera in (None, "zzznothing"):
            for has_caption in (None, True, False):
                filters = SearchFilters(folder=folder, camera=camera, has_caption=has_caption)
                for query in ({"text": "a dog"}, {"image": photos[3]}):
                    found = lib.search(**query, k=20, filters=filters)
                    wanted = 0 if camera or has_caption is True else expected
                    assert len(found) == wanted, (folder, camera, has_caption, query)
                    if found and "text" in query:  # the cross-encoder reads words
                        assert all(r.rerank_score is not None for r in found)


def test_relative_paths_of_an_old_catalog_are_found_from_any_folder(tmp_path, tiny_model):
    lib, _ = adapted_library(tmp_path, tiny_model)
    adapted_key, base_key = lib.model_key, lib.embedder.base_key
    stored = {kind: lib.catalog.get_meta(artefacts.meta_key(kind, key)) for kind, key in
              ((artefacts.ADAPTATION, base_key), (artefacts.RERANK, adapted_key))}
    assert not any(Path(text).is_absolute() for text in stored.values())  # relative to the dir
    for kind, key in ((artefacts.ADAPTATION, base_key), (artefacts.RERANK, adapted_key)):
        # as photofind stored them when run as `photofind --data-dir d2 adapt` from elsewhere
        lib.catalog.set_meta(artefacts.meta_key(kind, key), "d2/" + stored[kind])
    lib.close()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = ("import sys; from photofind.services.library import PhotoLibrary; "
              "lib = PhotoLibrary(sys.argv[1], workers=0); "
              "print(lib.model_key, lib.reranker is not None)")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "data")],
                          cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [adapted_key, "True"], (done.stdout, done.stderr)
    assert "not used" not in done.stderr
    reopened = PhotoLibrary(tmp_path / "data", workers=0)
    assert reopened.catalog.get_meta(artefacts.meta_key(artefacts.ADAPTATION, base_key)) == \
        stored[artefacts.ADAPTATION]  # rewritten relative to the data dir
    reopened.close()


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def garbage(path: Path) -> None:
    path.write_bytes(os.urandom(path.stat().st_size))


DAMAGE = {
    "adapter weights truncated": ("adapter.safetensors", truncate, "adaptation"),
    "adapter weights garbage": ("adapter.safetensors", garbage, "adaptation"),
    "adapter weights deleted": ("adapter.safetensors", Path.unlink, "adaptation"),
    "adapter JSON deleted": ("adapter.json", Path.unlink, "adaptation"),
    "adapter JSON garbage": ("adapter.json", garbage, "adaptation"),
    "reranker truncated": ("rerank.safetensors", truncate, "rerank"),
    "reranker garbage": ("rerank.safetensors", garbage, "rerank"),
    "reranker JSON deleted": ("rerank.json", Path.unlink, "rerank"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_trained_files_are_refused_with_a_message(tmp_path, tiny_model, damage):
    lib, _ = adapted_library(tmp_path, tiny_model)
    name, spoil, kind = DAMAGE[damage]
    base_key = lib.embedder.base_key
    spoil(adapting.adaptation_dir(lib, base_key) / name)
    lib.close()
    done = cli(tmp_path / "data", "search", "a dog", "-k", "3", "--json")
    clean(done)
    assert done.returncode == 0 and len(json.loads(done.stdout)) == 3
    assert name.split(".")[0] in done.stderr and "adapt again" in done.stderr, done.stderr
    status = cli(tmp_path / "data", "status")
    assert "Warning:" in status.stdout and name.split(".")[0] in status.stdout, status.stdout
    reopened = PhotoLibrary(tmp_path / "data", workers=0)
    if kind == "adaptation":  # back to the base model, whose vectors are all still there
        assert reopened.model_key == base_key
    else:
        assert "|adapted:" in reopened.model_key and reopened.reranker is None
    assert len(reopened.search("a dog", k=20)) == 13
    reopened.close()


# -- the index on disk is checked against the catalog ----------------------------------------
@pytest.mark.parametrize("tamper", ["wrong dim", "shortened live list", "unknown ids"])
def test_a_tampered_index_stamp_never_hides_photos(library, tmp_path, tamper):
    make_photos(tmp_path / "photos", 10)
    library.index([tmp_path / "photos"])
    stamp_file = stamp_path(library.index_file())
    stamp = json.loads(stamp_file.read_text())
    if tamper == "wrong dim":
        stamp["dim"] = 48
    elif tamper == "shortened live list":
        stamp["live"] = stamp["live"][:4]
    else:
        stamp["live"] = stamp["live"] + [9999]
    stamp_file.write_text(json.dumps(stamp))
    data_dir = library.data_dir
    library.close()
    reopened = PhotoLibrary(data_dir, workers=0)
    try:
        found = reopened.search("a photo", k=20)
        assert len(found) == 10 and len(reopened.vectors) == 10
        assert {r.photo.id for r in found} == set(reopened.catalog.readable_ids())
        assert np.isfinite([r.score for r in found]).all()
        assert len(json.loads(stamp_file.read_text())["live"]) == 10  # repaired on disk
    finally:
        reopened.close()
