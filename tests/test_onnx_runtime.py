"""ONNX Runtime inference: the exported towers give torch's vectors, the cold search path
imports neither torch nor open_clip, and a damaged or stale export is rebuilt, not used."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from photofind.adapt.store import Adaptation, AdaptConfig
from photofind.embed import export
from photofind.embed.encoder import Embedder
from photofind.embed.onnx_files import ExportCache, source_facts
from photofind.embed.runtime import OrtEmbedder, open_embedder
from photofind.embed.spec import ModelSpec
from photofind.services.library import PhotoLibrary

from tinymodel import TINY_CNN, TINY_HF_TEXT, TINY_VIT, write_tiny_model

KINDS = {"vit": (TINY_VIT, "tiny-vit"), "cnn": (TINY_CNN, "tiny-cnn"),
         "hf-text": (TINY_HF_TEXT, "tiny-hf")}
TEXTS = ["a dog runs on the beach", "two children", "Biscuit asleep on a red sofa",
         "a man in a blue jacket climbs a snowy mountain with his friends at dawn"]


def shared_cache() -> Path:
    """The test run's export cache (tests/conftest.py): each tiny model is exported once."""
    return Path(os.environ["PHOTOFIND_ONNX_CACHE"])


@pytest.fixture(scope="module", params=sorted(KINDS))
def exported(request, tmp_path_factory):
    """(ORT embedder, torch embedder) of one tiny model."""
    cfg, name = KINDS[request.param]
    folder = tmp_path_factory.mktemp(name)
    config, weights = write_tiny_model(folder / "model", cfg, name=name)
    spec = ModelSpec(name, str(weights), str(config))
    ort_embedder = open_embedder(spec, "cpu", shared_cache())
    assert isinstance(ort_embedder, OrtEmbedder), "export failed: torch fallback"
    return ort_embedder, Embedder(ort_embedder.loaded)


def pixels(count: int, size: int) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(count, 3, size, size)).astype(np.float32)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_exported_towers_give_torch_vectors(exported):
    ort_embedder, torch_embedder = exported
    assert cosines(ort_embedder.encode_texts(TEXTS), torch_embedder.encode_texts(TEXTS)).min() \
        > 0.9999
    vectors, tokens, mask = ort_embedder.text_tokens(TEXTS)
    want_vectors, want_tokens, want_mask = torch_embedder.text_tokens(TEXTS)
    assert np.array_equal(mask, want_mask.numpy())
    assert cosines(tokens[mask], want_tokens.numpy()[mask]).min() > 0.9999
    batch = pixels(5, ort_embedder.prep.size)  # not the batch size it was traced with
    (got, got_tokens), (want, want_grid) = (e.encode_images(batch, with_tokens=True)
                                            for e in exported)
    assert cosines(got, want).min() > 0.9999
    assert (got_tokens is None) == (want_grid is None)
    if got_tokens is not None:
        assert cosines(got_tokens.astype(np.float32), want_grid.astype(np.float32)).min() > 0.999
    assert ort_embedder.key == torch_embedder.key and ort_embedder.dim == torch_embedder.dim


def test_adapted_encoders_match_torch(exported):
    """Prompts, visual prompt (its own image graph), residual adapter and a concept word all
    go through the exported graphs and give torch's vectors."""
    ort_embedder, torch_embedder = exported
    loaded = torch_embedder.loaded
    config = AdaptConfig(text=True, visual=True, adapter=True,
                         concepts={"biscuit": ["Biscuit"]})
    adaptation = Adaptation(loaded.model, loaded.tokenizer, config, torch_embedder.prep.size,
                            torch_embedder.dim).eval()
    torch.manual_seed(3)
    with torch.no_grad():
        for parameter in adaptation.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)  # trained-looking, not zero
    ort_adapted, torch_adapted = ort_embedder.adapted(adaptation), \
        torch_embedder.adapted(adaptation)
    assert ort_adapted.key == torch_adapted.key != torch_embedder.key
    assert cosines(ort_adapted.encode_texts(TEXTS), torch_adapted.encode_texts(TEXTS)).min() \
        > 0.9999
    batch = pixels(3, ort_embedder.prep.size)
    assert cosines(ort_adapted.encode_images(batch), torch_adapted.encode_images(batch)).min() \
        > 0.9999
    # the zero-shot graph is still what the plain embedder uses
    assert cosines(ort_embedder.encode_images(batch), torch_embedder.encode_images(batch)).min() \
        > 0.9999


# ``photofind search`` in a fresh process that reports, on its last line of stderr, which heavy
# modules it loaded and whether each ONNX Runtime session it opened repacked its weights
COLD_SEARCH = r"""
import json, sys
import onnxruntime

opened = []
_open = onnxruntime.InferenceSession.__init__

def recording(self, path, sess_options=None, *args, **kwargs):
    try:
        opened.append(sess_options.get_session_config_entry("session.disable_prepacking"))
    except RuntimeError:  # not set: ONNX Runtime's default, repacking
        opened.append("0")
    _open(self, path, sess_options, *args, **kwargs)

onnxruntime.InferenceSession.__init__ = recording
from photofind.cli import main
rc = main(sys.argv[1:])
heavy = sorted(m for m in ("torch", "open_clip", "transformers", "torchvision")
               if m in sys.modules)
print(json.dumps({"heavy": heavy, "prepacking_off": opened}), file=sys.stderr)
sys.exit(rc)
"""


def cold_search(data: Path, query: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", COLD_SEARCH, "--data-dir", str(data), "search",
                           *query, "--json"], capture_output=True, text=True, timeout=300)


def test_cold_text_and_image_queries_load_no_torch(tmp_path, tiny_model):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)).save(
            folder / f"p{i}.jpg", quality=90)
    lib = PhotoLibrary(tmp_path / "data", model=tiny_model, workers=1)
    lib.index([folder])
    assert lib.embedder.runtime == "onnxruntime"
    lib.close()
    text = cold_search(tmp_path / "data", ["a dog on a beach"])
    assert text.returncode == 0, text.stderr
    assert len(json.loads(text.stdout)) == 6
    # one query, then the process ends: its session uses the weights as stored
    assert json.loads(text.stderr.strip().splitlines()[-1]) == \
        {"heavy": [], "prepacking_off": ["1"]}
    image = cold_search(tmp_path / "data", ["--image", str(folder / "p2.jpg")])
    assert image.returncode == 0, image.stderr
    assert json.loads(image.stdout)[0]["path"].endswith("p2.jpg")
    # a photo of the library is searched by its stored vector: no model session at all
    assert json.loads(image.stderr.strip().splitlines()[-1]) == \
        {"heavy": [], "prepacking_off": []}
    Image.fromarray(rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)).save(
        tmp_path / "elsewhere.jpg", quality=90)
    image = cold_search(tmp_path / "data", ["--image", str(tmp_path / "elsewhere.jpg")])
    assert image.returncode == 0, image.stderr
    assert len(json.loads(image.stdout)) == 6
    assert json.loads(image.stderr.strip().splitlines()[-1]) == \
        {"heavy": [], "prepacking_off": ["1"]}

    # with a trained re-ranker (its head made non-trivial here): still no torch
    from photofind.adapt.cross_encoder import CrossEncoder, numpy_head
    from photofind.search.rerank import Reranker
    from photofind.services import adapting, artefacts

    lib = PhotoLibrary(tmp_path / "data", model=tiny_model, workers=1)
    head = CrossEncoder(lib.embedder.dim)
    torch.nn.init.normal_(head.word_weight.weight)
    path = adapting.adaptation_dir(lib, lib.model_key) / "rerank.safetensors"
    Reranker(numpy_head(head), 0.5, {"note": "test"}).save(path)
    artefacts.remember(lib, artefacts.RERANK, lib.model_key, path)
    lib.close()
    reranked = cold_search(tmp_path / "data", ["a dog on a beach"])
    assert reranked.returncode == 0, reranked.stderr
    assert all(hit["rerank_score"] is not None for hit in json.loads(reranked.stdout))
    assert json.loads(reranked.stderr.strip().splitlines()[-1])["heavy"] == []
    # a library used on (the app, indexing) repacks its weights for fast batches, to the
    # same vectors
    lasting, brief = (PhotoLibrary(tmp_path / "data", model=tiny_model, workers=1)
                      for _ in range(2))
    brief.use_briefly()
    assert lasting.embedder.runtime_options.prepack
    assert not brief.embedder.runtime_options.prepack
    batch = pixels(3, lasting.embedder.prep.size)
    assert np.allclose(lasting.embedder.encode_images(batch), brief.embedder.encode_images(batch),
                       atol=1e-5)
    assert np.allclose(lasting.embedder.encode_texts(["a dog"]),
                       brief.embedder.encode_texts(["a dog"]), atol=1e-5)
    lasting.close(), brief.close()


def test_failed_check_falls_back_to_torch_with_one_message(tmp_path, tiny_model, caplog,
                                                           monkeypatch):
    monkeypatch.setattr(export, "MIN_COSINE", 1.5)  # no export can pass: cosine ≤ 1
    with caplog.at_level(logging.WARNING):
        embedder = open_embedder(tiny_model, "cpu", tmp_path / "onnx")
    assert embedder.runtime == "torch"
    notes = [r.getMessage() for r in caplog.records if "ONNX Runtime not used" in r.getMessage()]
    assert len(notes) == 1 and "differs from torch" in notes[0]
    assert not [p for p in (tmp_path / "onnx").rglob("*") if p.is_file()]  # nothing half-kept
    assert embedder.encode_texts(["a dog"]).shape == (1, 32)  # and it keeps working


def private_copy(tmp_path: Path, spec: ModelSpec) -> tuple[ExportCache, np.ndarray]:
    """A copy of the shared export of ``spec`` that a test may damage."""
    embedder = open_embedder(spec, "cpu", shared_cache())
    assert embedder.runtime == "onnxruntime"
    shared = ExportCache(shared_cache(), spec)
    shared.key = embedder.key
    cache = ExportCache(tmp_path / "onnx", spec)
    cache.key = embedder.key
    shutil.copytree(shared.folder, cache.folder)
    cache.spec_path.parent.mkdir(parents=True)
    shutil.copy(shared.spec_path, cache.spec_path)
    return cache, embedder.encode_texts(TEXTS)


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_damaged_graph_is_rebuilt_not_used(tmp_path, tiny_model, caplog, damage):
    cache, want = private_copy(tmp_path, tiny_model)
    graph = cache.path("text.onnx")
    size = graph.stat().st_size
    graph.write_bytes(graph.read_bytes()[: size // 2] if damage == "truncated"
                      else os.urandom(size))  # the same size: only the digest can tell
    with caplog.at_level(logging.WARNING):
        embedder = open_embedder(tiny_model, "cpu", cache.root)
        assert embedder.runtime == "onnxruntime"
        got = embedder.encode_texts(TEXTS)
    assert any("damaged; rebuilding" in r.getMessage() for r in caplog.records)
    assert cosines(got, want).min() > 0.9999
    assert cache.intact(cache.read()["text"], "table")


def test_another_models_export_or_changed_weights_are_not_trusted(tmp_path, tiny_model):
    cache, _ = private_copy(tmp_path, tiny_model)
    other_config, other_weights = write_tiny_model(tmp_path / "other", TINY_VIT, seed=7,
                                                   name="tiny-vit")
    other = ModelSpec("tiny-vit", str(other_weights), str(other_config))
    planted = ExportCache(cache.root, other)
    shutil.copy(cache.spec_path, planted.spec_path)  # model A's entry under B's name
    assert planted.known_key() is None
    planted.key = cache.key.replace(cache.key.rsplit("|", 1)[-1], "0" * 16)  # B's own key
    shutil.copytree(cache.folder, planted.folder)  # model A's graphs in B's folder
    assert planted.read() is None
    weights = Path(shutil.copy(tiny_model.pretrained, tmp_path / "mine.safetensors"))
    mine = ExportCache(cache.root, ModelSpec(tiny_model.name, str(weights), tiny_model.config))
    mine.remember(cache.key, [source_facts(weights), source_facts(tiny_model.config)])
    assert mine.known_key() == cache.key
    os.utime(weights, ns=(0, 0))  # the weights file changed: so may have the key
    assert mine.known_key() is None


def test_garbage_manifest_is_replaced(tmp_path, tiny_model):
    cache, want = private_copy(tmp_path, tiny_model)
    cache.manifest_path.write_text("{not json")
    embedder = open_embedder(tiny_model, "cpu", cache.root)
    assert embedder.runtime == "onnxruntime"
    assert cosines(embedder.encode_texts(TEXTS), want).min() > 0.9999
    assert cache.read() is not None
