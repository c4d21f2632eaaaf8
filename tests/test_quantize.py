"""int8 image graphs: made once from the checked float32 graph, checked against it, reused
while both files match their record, made again when damaged or stale, and never used when
they differ from float32; a library indexes with them and finds what float32 finds. Real
exported ONNX graphs of tiny open_clip models, a real catalog."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest

from photofind.embed import quantize
from photofind.embed.runtime import OrtEmbedder, RuntimeOptions, open_embedder
from photofind.embed.spec import ModelSpec
from photofind.services.library import PhotoLibrary

from conftest import make_photos
from tinymodel import TINY_VIT, write_tiny_model

VIT_WIDE = {**TINY_VIT, "vision_cfg": {**TINY_VIT["vision_cfg"], "width": 128}}


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    """A float32 image graph exported and checked by photofind (tiny ViT, width 128: one
    block of ``quantize.BLOCK`` along the inner dimension) in a cache of its own."""
    folder = tmp_path_factory.mktemp("int8")
    config, weights = write_tiny_model(folder / "model", VIT_WIDE, name="tiny-vit-128")
    embedder = open_embedder(ModelSpec("tiny-vit-128", str(weights), str(config)), "cpu",
                             folder / "cache")
    assert isinstance(embedder, OrtEmbedder)
    return embedder


def image_graph(embedder) -> os.PathLike:
    return embedder.cache.path("image.onnx")


def pixels(count: int = 6) -> np.ndarray:
    return np.random.default_rng(3).normal(size=(count, 3, 64, 64)).astype(np.float32)


def test_an_int8_twin_is_made_checked_recorded_and_reused(graph):
    source = image_graph(graph)
    target = quantize.ready_int8(source)
    assert target == quantize.int8_path(source) and target.exists()
    record = json.loads(target.with_suffix(".json").read_text())
    assert record["cosine"] >= quantize.MIN_COSINE and record["recipe"] == quantize.RECIPE
    assert target.stat().st_size < source.stat().st_size  # int8 weights
    made = target.stat().st_mtime_ns
    assert quantize.ready_int8(source) == target and target.stat().st_mtime_ns == made
    fast = graph.with_options(RuntimeOptions(int8_images=True)).encode_images(pixels())
    slow = graph.with_options(RuntimeOptions(int8_images=False)).encode_images(pixels())
    assert (fast * slow).sum(1).min() >= quantize.MIN_COSINE
    assert not np.array_equal(fast, slow)  # really the int8 graph


@pytest.mark.parametrize("damage", ["truncated", "garbage record", "stale"])
def test_a_damaged_or_stale_twin_is_made_again_with_a_message(graph, damage, caplog):
    source = image_graph(graph)
    target = quantize.ready_int8(source)
    if damage == "truncated":
        target.write_bytes(target.read_bytes()[:1000])
    elif damage == "garbage record":
        target.with_suffix(".json").write_text("{not json")
    else:  # the float32 graph it came from changed since
        record = json.loads(target.with_suffix(".json").read_text())
        target.with_suffix(".json").write_text(json.dumps({**record, "source": "0" * 32}))
    with caplog.at_level(logging.WARNING, logger="photofind.embed.quantize"):
        assert quantize.ready_int8(source) == target
    assert "making it again" in caplog.text
    assert quantize.agreement(source, target, "pixels") >= quantize.MIN_COSINE


def test_a_twin_that_differs_from_float32_is_not_used(graph, monkeypatch, caplog, tmp_path):
    source = tmp_path / "image.onnx"
    source.write_bytes(image_graph(graph).read_bytes())
    monkeypatch.setattr(quantize, "MIN_COSINE", 1.5)  # nothing can agree this well
    with caplog.at_level(logging.WARNING, logger="photofind.embed.quantize"):
        assert quantize.ready_int8(source) is None
        assert quantize.ready_int8(source) is None  # remembered, not made again
    assert caplog.text.count("float32 is used") == 1
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a graph")
    with caplog.at_level(logging.WARNING, logger="photofind.embed.quantize"):
        assert quantize.ready_int8(garbage) is None  # cannot be made: float32 serves
    assert "int8 image graph not made" in caplog.text


def test_the_switch_and_the_cpu_decide(monkeypatch):
    monkeypatch.setenv(quantize.INT8_ENV, "0")
    assert not quantize.int8_is_fast()
    monkeypatch.setenv(quantize.INT8_ENV, "1")
    assert quantize.int8_is_fast()
    monkeypatch.delenv(quantize.INT8_ENV)
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    expected = any(f" {flag}" in flags for flag in ("avx512_vnni", "avx_vnni", "amx_int8"))
    assert quantize.int8_is_fast() == expected


def test_a_library_indexed_with_int8_finds_what_float32_finds(tmp_path, monkeypatch):
    config, weights = write_tiny_model(tmp_path / "model", VIT_WIDE, name="tiny-vit-128")
    spec = ModelSpec("tiny-vit-128", str(weights), str(config))
    make_photos(tmp_path / "photos", 12)
    found = {}
    for switch in ("1", "0"):
        monkeypatch.setenv(quantize.INT8_ENV, switch)
        lib = PhotoLibrary(tmp_path / f"data{switch}", model=spec, workers=0)
        try:
            lib.index([tmp_path / "photos"])
            found[switch] = [r.path for r in lib.search("a red kayak", k=5)]
        finally:
            lib.close()
    cache = os.environ["PHOTOFIND_ONNX_CACHE"]
    assert list(__import__("pathlib").Path(cache).rglob(f"*.{quantize.RECIPE}.onnx"))
    assert len(set(found["1"]) & set(found["0"])) >= 4
