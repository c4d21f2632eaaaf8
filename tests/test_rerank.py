"""The reranker: token store, cross-encoder head, and the search path around it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_adapt import CAPTIONS, captioned_library

from photofind.adapt.data import build_data
from photofind.core import PhotoLibrary
from photofind.index.tokens import TokenStore
from photofind.search.rerank import CrossEncoder, Reranker
from photofind.search.rerank_train import train_reranker

from conftest import copy_photos


def test_token_store_survives_restart_and_is_per_model(tmp_path, tiny_model):
    copy_photos(tmp_path / "photos", 6)
    lib = PhotoLibrary(tmp_path / "data", model=tiny_model, workers=0)
    lib.index([tmp_path / "photos"])
    ids = sorted(lib.vectors.ids)
    tokens, valid = lib.tokens.get(ids)
    assert valid.all() and tokens.shape == (6, 16, 32) and tokens.dtype == np.float16
    assert lib.tokens.row_bytes == 16 * 32 * 2 <= 16 * 1024  # 16 KB for 512-d models
    lib.close()
    again = PhotoLibrary(tmp_path / "data", model=tiny_model, workers=0)
    same, valid = again.tokens.get(ids)
    assert valid.all() and np.array_equal(same, tokens)
    other = TokenStore(tmp_path / "data" / "tokens", "another-model|key", 32)
    assert not other.get(ids)[1].any()  # a model change never reads old tokens
    again.close()


def test_head_learns_and_rerank_moves_only_the_top_k(tmp_path, tiny_model):
    lib, photos = captioned_library(tmp_path, tiny_model, photos=70, captioned=60)
    data = build_data(lib.catalog.all_texts(), sorted(lib.vectors.ids), seed=0)
    reranker = train_reranker(lib, data, epochs=3)
    losses = reranker.meta["losses"]
    third = max(1, len(losses) // 3)
    assert np.mean(losses[-third:]) < np.mean(losses[:third])  # the head learns
    assert reranker.meta["epochs"] == 3
    assert train_reranker(lib, data, epochs=3, time_budget_s=1e-6).meta["epochs"] == 1
    reranker.weight = 10.0  # force it on, whatever validation says
    lib._reranker = reranker
    plain = lib.search("a dog runs on the grass", k=70, rerank=False, hybrid=False)
    reranked = lib.search("a dog runs on the grass", k=70, hybrid=False)
    top = {r.photo.id for r in plain[:50]}
    assert {r.photo.id for r in reranked[:50]} == top  # only the retrieved 50 move
    assert [r.photo.id for r in reranked[50:]] == [r.photo.id for r in plain[50:]]
    assert [r.photo.id for r in reranked[:50]] != [r.photo.id for r in plain[:50]]
    assert all(r.rerank_score is not None for r in reranked[:50])
    assert [r.score for r in plain] == sorted((r.score for r in plain), reverse=True)
    assert all(r.rerank_score is None for r in plain)  # off: the bi-encoder order exactly


def test_reranker_file_round_trips(tmp_path):
    head = CrossEncoder(32)
    torch.nn.init.normal_(head.word_weight.weight)  # not the zero initialisation
    reranker = Reranker(head, 0.2, {"note": "x"})
    reranker.save(tmp_path / "r.safetensors")
    loaded = Reranker.load(tmp_path / "r.safetensors")
    text, mask = torch.randn(1, 5, 32), torch.ones(1, 5, dtype=torch.bool)
    image = np.random.default_rng(0).normal(size=(3, 16, 32)).astype(np.float16)
    assert loaded.weight == 0.2
    assert np.allclose(loaded.scores(text, mask, image), reranker.scores(text, mask, image))
    meta = json.loads((tmp_path / "r.json").read_text())
    meta["config"].pop("version")  # a head from before the joint-space tokens
    (tmp_path / "r.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="older photofind"):
        Reranker.load(tmp_path / "r.safetensors")


def test_untrained_head_is_a_soft_word_to_region_matcher():
    """Zero-initialised residual branches: before training, the score is each word's best
    soft match among the photo's tokens, so it already prefers the photo holding the words."""
    rng = torch.Generator().manual_seed(0)
    words = torch.nn.functional.normalize(torch.randn(1, 3, 32, generator=rng), dim=-1)
    other = torch.randn(16, 32, generator=rng)
    holding = other.clone()
    holding[:3] = words[0] * 5  # three of its regions show the three words
    head = CrossEncoder(32).eval()
    with torch.no_grad():
        scores = head(words.expand(2, -1, -1), torch.ones(2, 3, dtype=torch.bool),
                      torch.stack([other, holding]))
    assert scores[1] > 0.99 and scores[0] < 0.5


def test_without_a_trained_head_search_is_unchanged(tmp_path, tiny_model):
    lib, _ = captioned_library(tmp_path, tiny_model, photos=12, captioned=0)
    assert lib.reranker is None
    assert [r.path for r in lib.search("two children", k=12)] == \
        [r.path for r in lib.search("two children", k=12, rerank=False)]
    assert CAPTIONS  # shared caption table loaded
