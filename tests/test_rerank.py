"""The reranker: token store, cross-encoder head, and the search path around it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_adapt import captioned_library

from photofind.adapt.cross_encoder import CrossEncoder, numpy_head
from photofind.adapt.data import AdaptationData, LabelledPhotos, build_data
from photofind.adapt.judging import held_back_texts
from photofind.adapt.rerank_train import neighbour_texts, train_reranker
from photofind.index.tokens import TokenStore
from photofind.search.filters import SearchFilters
from photofind.search.neighbours import NeighbourTexts
from photofind.search.rerank import Reranker, weights_text
from photofind.services import adapting
from photofind.services.jobs import CancelToken
from photofind.services.library import PhotoLibrary

from conftest import make_photos


def test_token_store_survives_restart_and_is_per_model(tmp_path, tiny_model):
    make_photos(tmp_path / "photos", 6)
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
    lib.reranker = reranker
    plain = lib.search("a dog runs on the grass", k=70, rerank=False, hybrid=False)
    reranked = lib.search("a dog runs on the grass", k=70, hybrid=False)
    top = {r.photo.id for r in plain[:50]}
    assert {r.photo.id for r in reranked[:50]} == top  # only the retrieved 50 move
    assert [r.photo.id for r in reranked[50:]] == [r.photo.id for r in plain[50:]]
    assert [r.photo.id for r in reranked[:50]] != [r.photo.id for r in plain[:50]]
    assert all(r.rerank_score is not None for r in reranked[:50])
    assert [r.score for r in plain] == sorted((r.score for r in plain), reverse=True)
    assert all(r.rerank_score is None for r in plain)  # off: the bi-encoder order exactly


def unit_rows(rng, rows: int, dim: int = 32) -> np.ndarray:
    data = rng.normal(size=(rows, dim)).astype(np.float32)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


def test_reranker_file_round_trips(tmp_path):
    head = CrossEncoder(32)
    torch.nn.init.normal_(head.word_weight.weight)  # not the zero initialisation
    rng = np.random.default_rng(0)
    neighbours = NeighbourTexts(np.array([4, 7, 9]), unit_rows(rng, 3).astype(np.float16),
                                unit_rows(rng, 5).astype(np.float16), np.array([0, 2, 3]),
                                k=2, tau=0.1)
    reranker = Reranker(numpy_head(head), 0.2, {"note": "x"}, neighbours, 0.4)
    reranker.save(tmp_path / "r.safetensors")
    loaded = Reranker.load(tmp_path / "r.safetensors")
    text, mask = torch.randn(1, 5, 32), torch.ones(1, 5, dtype=torch.bool)
    image = rng.normal(size=(3, 16, 32)).astype(np.float16)
    query, candidates = unit_rows(rng, 1)[0], unit_rows(rng, 3)
    assert (loaded.weight, loaded.neighbour_weight, loaded.neighbours.k) == (0.2, 0.4, 2)
    assert np.allclose(loaded.scores(text, mask, image), reranker.scores(text, mask, image))
    inputs = (text, mask, query, [1, 4, 5], lambda ids: image, lambda ids: candidates)
    assert np.allclose(loaded.bonus(*inputs), reranker.bonus(*inputs))
    meta = json.loads((tmp_path / "r.json").read_text())
    meta["config"].pop("version")  # a head from before the joint-space tokens
    (tmp_path / "r.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="older photofind"):
        Reranker.load(tmp_path / "r.safetensors")


def test_the_query_time_head_computes_what_torch_computes():
    """The numpy head (no torch at query time) against the torch module it was trained as,
    with every weight non-zero and two blocks, a padded query and float16 tokens."""
    torch.manual_seed(0)
    head = CrossEncoder(32, layers=2).eval()
    with torch.no_grad():
        for parameter in head.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.3)
    text, image = torch.randn(5, 7, 32), torch.randn(5, 16, 32).half()
    mask = torch.ones(5, 7, dtype=torch.bool)
    mask[:, 5:] = False  # a shorter query, padded
    with torch.no_grad():
        want = head(text, mask, image.float()).numpy()
    got = numpy_head(head)(text.numpy(), mask.numpy(), image.numpy().astype(np.float32))
    assert np.abs(got - want).max() < 1e-5
    assert np.abs(want).max() > 0.05  # a score that means something, not all zeros


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


def test_look_alikes_texts_lift_a_photo_but_never_its_own():
    """A candidate that looks like a photo described in the query's words is lifted; a
    described photo's own texts do not count for it (only its look-alikes' do)."""
    rng = np.random.default_rng(1)
    looks = unit_rows(rng, 3)  # the described photos 10, 11, 12
    words = unit_rows(rng, 3)
    query = words[0]  # what photo 10's caption says
    neighbours = NeighbourTexts(np.array([10, 11, 12]), looks.astype(np.float16),
                                words.astype(np.float16), np.arange(3), k=1, tau=0.05)
    near_10 = looks[0] + 0.1 * unit_rows(rng, 1)[0]
    near_11 = looks[1] + 0.1 * unit_rows(rng, 1)[0]
    candidates = np.stack([near_10 / np.linalg.norm(near_10), near_11 / np.linalg.norm(near_11),
                           looks[0]])
    lifted, other, itself = neighbours.scores(query, [1, 2, 10], candidates)
    assert lifted == pytest.approx(1.0, abs=0.01) and other < 0.5
    assert itself < 0.5  # photo 10 is scored by its nearest other photo's words


def texts_by_photo(neighbours: NeighbourTexts) -> dict[int, np.ndarray]:
    ends = list(neighbours.starts[1:]) + [len(neighbours.text_vectors)]
    return {int(photo): neighbours.text_vectors[start:end] for photo, start, end
            in zip(neighbours.photo_ids, neighbours.starts, ends)}


def test_look_alikes_texts_cut_short_by_time_keep_whole_photos():
    """Past its seconds, encoding stops after the batch in flight; only photos whose texts
    were all encoded are kept, each with its own texts."""
    calls = []

    def encode(texts):
        calls.append(len(texts))
        return np.stack([np.full(4, float(text.split()[1])) for text in texts])

    texts = [[f"photo {n} text{i}" for i in range(3)] for n in range(200)]  # 600 texts
    vectors = np.eye(200, 4)
    whole = NeighbourTexts.build(encode, np.arange(200), vectors, texts, batch=256)
    assert calls == [256, 256, 88] and len(whole.photo_ids) == 200
    calls.clear()
    cut = NeighbourTexts.build(encode, np.arange(200), vectors, texts, seconds=0.0, batch=256)
    assert calls == [256]  # one batch, then time was up
    assert list(cut.photo_ids) == list(range(85))  # 85 × 3 = 255 texts: photo 85 is cut
    for photo, own in texts_by_photo(cut).items():
        assert own.shape == (3, 4) and np.all(own == photo)
    assert np.array_equal(cut.photo_vectors, vectors[:85])


def test_held_back_texts_are_halved_from_100_on():
    """Choosing the reranker's weights on some held-back texts and judging them on others
    needs 100 texts; photos' captions stay on one side."""
    def data(photos: int) -> AdaptationData:
        val = LabelledPhotos(list(range(photos)),
                             captions={p: [f"photo {p} caption {i}" for i in range(2)]
                                       for p in range(photos)})
        return AdaptationData(LabelledPhotos([]), val, [])

    queries, names, choose, judge = held_back_texts(data(49), seed=0)  # 98 texts
    assert len(names) == 98 and list(choose) == list(judge) == list(range(98))
    queries, names, choose, judge = held_back_texts(data(50), seed=0)  # 100 texts
    assert len(choose) + len(judge) == 100 and not set(choose) & set(judge)
    sides = {}
    for side, rows in (("choose", choose), ("judge", judge)):
        for row in rows:
            (photo,) = queries[names[row]]
            assert sides.setdefault(photo, side) == side


def test_a_reranker_too_few_texts_could_judge_is_not_trained(tmp_path, tiny_model):
    """~20 held-back photos' texts cannot both choose the weights and judge them: the run
    says so before training the head, with what training would then have reported."""
    lib, _ = captioned_library(tmp_path, tiny_model, photos=70, captioned=60)
    data = build_data(lib.catalog.all_texts(), sorted(lib.vectors.ids), seed=0)
    assert not adapting.reranker_judgeable(lib)  # what the Adapt dialog plans by
    stages, encoded = [], lib.embedder.texts_encoded
    summary = adapting.teach_reranker(lib, data, tmp_path / "work", seed=0,
                                      progress=stages.append)
    assert stages == []  # the head's stage never began
    assert lib.embedder.texts_encoded - encoded == summary["held_back"] < 100  # only those
    assert summary["too_few"] and not summary["kept"] and summary["weight"] == 0
    trained = train_reranker(lib, data, epochs=1)
    assert not trained.active and trained.meta["verdict"] == summary["verdict"]
    for metric, value in trained.meta["before"].items():
        assert summary["before"][metric] == pytest.approx(value, abs=1e-6), metric
    assert summary["after"] == summary["before"]


def test_neighbour_texts_rerank_the_top_k_through_search(tmp_path, tiny_model):
    lib, photos = captioned_library(tmp_path, tiny_model, photos=70, captioned=60)
    data = build_data(lib.catalog.all_texts(), sorted(lib.vectors.ids), seed=0)
    reranker = train_reranker(lib, data, epochs=1)
    # ~20 held-back photos' texts are too few to choose the weights on some and judge them
    # on others: nothing is chosen, and the verdict says so in words
    assert not reranker.active and reranker.meta["after"] == reranker.meta["before"]
    assert "too few to choose the weights" in reranker.meta["verdict"]
    neighbours = neighbour_texts(lib, [data.train, data.val])
    assert len(neighbours.photo_ids) == 60 and len(neighbours.text_vectors) == 120
    # the order a time limit cuts is drawn apart from the split (the same shuffle once put
    # every validation photo first: cut short, nothing was left once they were removed)
    first = {int(p) for p in neighbours.photo_ids[:len(data.val.photo_ids)]}
    assert first != set(data.val.photo_ids)
    nobody = neighbours.without(neighbours.photo_ids)
    assert len(nobody.photo_ids) == len(nobody.starts) == len(nobody.text_vectors) == 0
    known, train_only = neighbours.without(data.val.photo_ids), neighbour_texts(lib, [data.train])
    assert sorted(known.photo_ids) == sorted(train_only.photo_ids)
    assert texts_by_photo(known).keys() == texts_by_photo(train_only).keys()
    for photo, vectors in texts_by_photo(known).items():
        assert np.allclose(vectors, texts_by_photo(train_only)[photo], atol=1e-5)
    cancelled, before = CancelToken(), lib.embedder.texts_encoded
    cancelled.cancel()
    assert neighbour_texts(lib, [data.train], cancel=cancelled) is None
    assert lib.embedder.texts_encoded == before  # stopped before encoding anything
    reranker.neighbours, reranker.weight, reranker.neighbour_weight = neighbours, 0.0, 10.0
    assert reranker.active and weights_text({"weight": 0.0, "neighbour_weight": 10.0}) == \
        "look-alikes' texts ×10.0"
    lib.reranker = reranker
    plain = lib.search("a dog runs on the grass", k=70, rerank=False, hybrid=False)
    reranked = lib.search("a dog runs on the grass", k=70, hybrid=False)
    assert {r.photo.id for r in reranked[:50]} == {r.photo.id for r in plain[:50]}
    assert [r.photo.id for r in reranked[:50]] != [r.photo.id for r in plain[:50]]
    bonus = [r.rerank_score for r in reranked[:50]]
    assert [r.score + b for r, b in zip(reranked[:50], bonus)] == \
        sorted((r.score + b for r, b in zip(reranked[:50], bonus)), reverse=True)
    reranker.save(tmp_path / "r.safetensors")
    again = Reranker.load(tmp_path / "r.safetensors")
    lib.reranker = again
    assert [r.photo.id for r in lib.search("a dog runs on the grass", k=70, hybrid=False)] \
        == [r.photo.id for r in reranked]
    again.weight = 1.0  # head and look-alikes both on: a filter leaving 0 or 1 photos
    assert lib.search("a dog", filters=SearchFilters(camera="zzznothing")) == []
    only = SearchFilters(folder=str(photos[3]))
    assert [r.path for r in lib.search("a dog", filters=only)] == [str(photos[3])]
