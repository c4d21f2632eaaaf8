"""'Adapt to my library' on tiny models and real Flickr8k captions (generated photos where
the test writes no captions)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from photofind.adapt.data import NotEnoughData
from photofind.adapt.prompts import VisualPrompt
from photofind.adapt.store import Adaptation, AdaptConfig
from photofind.embed.model import ModelSpec, load_model
from photofind.library.metadata import TextItem
from photofind.services import adapting as adaptation
from photofind.services.jobs import CancelToken
from photofind.services.library import PhotoLibrary

from conftest import FLICKR, copy_photos, flickr_captions, make_photos
from tinymodel import TINY_CNN, TINY_HF_TEXT, TINY_VIT, write_tiny_model

KINDS = {"vit": (TINY_VIT, "tiny-vit"), "cnn": (TINY_CNN, "tiny-cnn"),
         "hf-text": (TINY_HF_TEXT, "tiny-hf")}


@pytest.fixture(scope="module", params=sorted(KINDS))
def any_model(request, tmp_path_factory):
    cfg, name = KINDS[request.param]
    # the tiny BERT's words come from the real captions when they are there (tinymodel.py)
    config, weights = write_tiny_model(tmp_path_factory.mktemp(name), cfg, name=name,
                                       captions_csv=FLICKR / "captions.csv")
    return ModelSpec(name, str(weights), str(config))


def captioned_library(path, spec, photos=60, captioned=50, per_photo=2):
    """A library of Flickr8k photos, the first `captioned` with their real captions; with
    none captioned, of generated photos (no shared data needed)."""
    copied = (copy_photos if captioned else make_photos)(path / "photos", photos)
    lib = PhotoLibrary(path / "data", model=spec, workers=1)
    lib.index([path / "photos"])
    with lib.catalog.transaction() as db:
        for photo in copied[:captioned]:
            row = lib.catalog.photo_by_path(photo)
            items = [TextItem("caption", c, "test", str(photo))
                     for c in flickr_captions()[photo.name][:per_photo]]
            lib.catalog.add_texts(db, row.id, items)
    return lib, copied


def test_only_prompt_parameters_learn(any_model):
    loaded = load_model(any_model, "cpu")
    model, tokenizer = loaded.model, loaded.tokenizer
    before = {k: v.clone() for k, v in model.state_dict().items()}
    size = loaded.preprocess_cfg["size"]
    size = size[0] if isinstance(size, (tuple, list)) else size
    adapted = Adaptation(model, tokenizer, AdaptConfig(text=True, visual=True, adapter=True),
                         size, 32)
    optimizer = torch.optim.AdamW(adapted.parameters(), lr=0.1)
    pixels = torch.randn(4, 3, size, size)
    texts = ["a dog runs on the beach", "two children", "a red boat", "a man on a bike"]
    images = F.normalize(adapted.encode_image(model, pixels), dim=-1)
    text = F.normalize(adapted.encode_text(model, tokenizer, texts), dim=-1)
    loss = F.cross_entropy(10 * text @ images.T, torch.arange(4))
    loss.backward()
    assert all(p.grad is None for p in model.parameters())
    trained = [n for n, p in adapted.named_parameters() if p.grad is not None and p.grad.abs().sum()]
    assert {n.split(".")[0] for n in trained} == {"text", "visual", "adapter"}
    optimizer.step()
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # bit for bit
    assert adapted.trainable_count() < 0.05 * sum(p.numel() for p in model.parameters())


def test_cached_front_gives_the_full_forward(tiny_model):
    loaded = load_model(tiny_model, "cpu")
    visual = loaded.model.visual
    pixels = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        plain = VisualPrompt(visual, n_tokens=0, depth=1)
        assert torch.allclose(plain.back(plain.front(pixels)), visual(pixels), atol=1e-5)
        prompted = VisualPrompt(visual, n_tokens=4, depth=1)
        full = prompted(pixels)
        cached = prompted.back(prompted.front(pixels).half().float())  # the fp16 cache
    assert torch.allclose(full, cached, atol=2e-2)
    assert not torch.allclose(full, visual(pixels), atol=1e-3)  # the prompts do something


def test_adapting_trains_reembeds_and_resets(tmp_path, any_model):
    lib, photos = captioned_library(tmp_path, any_model)
    zero_shot_key = lib.model_key
    query = lib.embedder.encode_texts(["a dog runs on the grass"])[0]
    losses = {}

    def progress(p):
        if p.phase == "training":
            losses.setdefault(p.epoch, []).append(p.loss)

    config = AdaptConfig(text=True, visual=True, epochs=4, batch_size=16, lr=5e-3, patience=9)
    lib_config = (config,)
    result = adaptation.adapt(lib, lib_config, progress=progress)
    first, last = sum(losses[1]) / len(losses[1]), sum(losses[4]) / len(losses[4])
    assert last < first  # the training loss falls on real captions
    assert result.before["queries"] == 40 and 0 < result.trainable_params  # 20 photos × 2
    if not result.kept:  # held-out photos decide: zero-shot stays, nothing changes
        assert lib.model_key == zero_shot_key
        return
    assert lib.model_key != zero_shot_key and lib.embedder.adaptation is not None
    assert len(lib.catalog.embedded_ids(lib.model_key)) == len(photos)
    assert not torch.allclose(torch.from_numpy(lib.embedder.encode_texts(
        ["a dog runs on the grass"])[0]), torch.from_numpy(query))
    assert len(lib.search("a dog", k=5)) == 5
    adaptation.reset(lib)
    assert lib.model_key == zero_shot_key and list(lib.catalog.model_keys()) == [zero_shot_key]


def test_activate_swaps_index_and_file_round_trips(tmp_path, tiny_model):
    lib, photos = captioned_library(tmp_path, tiny_model, photos=20, captioned=0)
    base = lib.embedder
    config = AdaptConfig(text=True, visual=True)
    torch.manual_seed(3)
    trained = Adaptation(base.model, base.loaded.tokenizer, config, 64, 32)
    with torch.no_grad():
        trained.text.ctx.add_(torch.randn_like(trained.text.ctx))
        trained.visual.tokens.add_(torch.randn_like(trained.visual.tokens))
    path = tmp_path / "adapt.safetensors"
    trained.save(path)
    adaptation.activate(lib, base, path)
    assert lib.model_key.startswith(base.key + "|adapted:")
    assert base.images_encoded == 20  # only the indexing pass: re-embedding used a twin
    found = lib.search(image=photos[4], k=3)
    assert found[0].path == str(photos[4]) and found[0].score == pytest.approx(1, abs=1e-2)
    expected = lib.embedder.encode_texts(["a boat"])
    lib.close()
    reopened = PhotoLibrary(tmp_path / "data", model=tiny_model, workers=0)
    assert reopened.model_key == lib.model_key
    assert torch.allclose(torch.from_numpy(reopened.embedder.encode_texts(["a boat"])),
                          torch.from_numpy(expected), atol=1e-6)
    assert reopened.embedder.images_encoded == 0
    reopened.close()


def test_cancel_leaves_the_old_index_serving_then_resume(tmp_path, tiny_model):
    lib, photos = captioned_library(tmp_path, tiny_model)
    key = lib.model_key
    before = [r.path for r in lib.search("a child plays", k=10)]
    cancel, epochs_seen = CancelToken(), []

    def progress(p):
        if p.phase == "training":
            epochs_seen.append(p.epoch)
            if p.epoch == 2:
                cancel.cancel()

    config = AdaptConfig(text=True, visual=True, epochs=3, batch_size=16)
    result = adaptation.adapt(lib, (config,), progress=progress, cancel=cancel)
    assert result.cancelled and not result.kept
    assert lib.model_key == key and [r.path for r in lib.search("a child plays", k=10)] == before
    epochs_seen.clear()
    adaptation.adapt(lib, (config,), progress=lambda p: p.phase == "training" and
                     epochs_seen.append(p.epoch))
    assert epochs_seen and min(epochs_seen) == 2  # resumed after the checkpointed epoch 1
    epochs_seen.clear()  # that run finished: the next one starts afresh
    adaptation.adapt(lib, (config,), progress=lambda p: p.phase == "training" and
                     epochs_seen.append(p.epoch))
    assert epochs_seen and min(epochs_seen) == 1


def test_cancelled_reembedding_keeps_zero_shot(tmp_path, tiny_model):
    lib, photos = captioned_library(tmp_path, tiny_model, photos=40, captioned=0)
    base, key = lib.embedder, lib.model_key
    trained = Adaptation(base.model, base.loaded.tokenizer, AdaptConfig(visual=True), 64, 32)
    trained.save(tmp_path / "a.safetensors")
    cancel = CancelToken()
    adaptation.activate(lib, base, tmp_path / "a.safetensors",
                        progress=lambda p: cancel.cancel(), cancel=cancel)
    assert lib.model_key == key and lib.embedder is base
    assert len(lib.search("anything", k=40)) == 40


def test_too_few_captions_are_refused_with_numbers(tmp_path, tiny_model):
    lib, _ = captioned_library(tmp_path, tiny_model, photos=30, captioned=25, per_photo=1)
    with pytest.raises(NotEnoughData, match="Only 25 photos .* at least 40"):
        adaptation.adapt(lib)
    assert adaptation.usable(lib)["captioned"] == 25


def test_validation_sees_the_whole_library_not_only_pushed_away_photos():
    """Real searches rank every photo, those training pulled close as well as the negatives
    it pushed away: validation must score against both, or it flatters adaptation."""
    from photofind.adapt.data import build_data
    from photofind.adapt.judging import negative_pool, validation_gallery

    texts = [(pid, "caption", f"photo {pid}") for pid in range(1, 101)] + \
        [(pid, "tag", "Biscuit") for pid in range(101, 151)]
    data = build_data(texts, list(range(1, 301)), seed=3)
    train, val = set(data.train.photo_ids), set(data.val.photo_ids)
    gallery = validation_gallery(data, 250, seed=3)
    assert len(gallery) == len(set(gallery)) == 250
    assert val <= set(gallery) and train & set(gallery) and set(data.unlabelled) & set(gallery)
    assert not set(gallery) & train & set(range(101, 151))  # would be unlabelled true matches
    pool = negative_pool(data, 150, seed=3)
    assert set(pool) <= set(data.unlabelled) and len(pool) == 150
    assert pool != [p for p in gallery if p in set(data.unlabelled)][:150]  # not its sample


def test_time_budget_shrinks_the_epochs_and_the_schedule(tmp_path, tiny_model):
    """The budget is checked at every batch: spent at once, training stops after the first
    step of the first epoch (of several), which is validated and reported as the last."""
    lib, _ = captioned_library(tmp_path, tiny_model, photos=50, captioned=45)
    seen = []

    def progress(p):
        if p.phase == "training":
            seen.append((p.epoch, p.epochs, p.step, p.steps))

    config = AdaptConfig(text=True, visual=False, epochs=6, batch_size=8, patience=9,
                         time_budget_s=1e-3)  # spent before the first step ends
    result = adaptation.adapt(lib, (config,), progress=progress, rerank=False)
    assert result.epochs_run == 1 and seen == [(1, 6, 1, seen[0][3])] and seen[0][3] > 1
    unlimited = adaptation.adapt(lib, (replace(config, time_budget_s=None),), rerank=False)
    assert unlimited.epochs_run == 6


def test_the_best_round_is_chosen_on_half_the_validation_queries(tmp_path, tiny_model):
    """Each round's score on the choosing half of the validation queries picks the round
    kept (the other half judges it): the kept one is the first round that scores highest
    there, or none when no round beats the plain model there."""
    lib, _ = captioned_library(tmp_path, tiny_model, photos=60, captioned=50)
    rounds = []

    def progress(p):
        if p.phase == "validating":
            rounds.append(p.metrics)

    config = AdaptConfig(text=True, visual=False, epochs=4, batch_size=8, lr=5e-3, patience=9,
                         gate=False)
    result = adaptation.adapt(lib, (config,), progress=progress, rerank=False)
    assert len(rounds) == 4 and len({m["chosen_by"] for m in rounds}) > 1
    top = max(m["chosen_by"] for m in rounds)
    if top > result.before["chosen_by"]:
        assert result.after is next(m for m in rounds if m["chosen_by"] == top)
    else:
        assert result.after is result.before and not result.kept


def test_trimmed_text_encoding_equals_open_clip(any_model):
    """Queries skip the padding columns (~4× faster on CPU) with the same vectors."""
    from photofind.embed.text import encode_frozen_text

    loaded = load_model(any_model)
    texts = ["a dog", "two children play football on a sunny beach near the sea"]
    with torch.no_grad():
        full = loaded.model.encode_text(loaded.tokenizer(texts))
        trimmed = encode_frozen_text(loaded.model, loaded.tokenizer, texts)
    assert torch.allclose(full, trimmed, atol=1e-5)


def test_pixel_border_learns_at_its_own_rate(tmp_path):
    """A CNN tower's prompt is a border of pixels on a ±1 scale: at the token vectors'
    learning rate Adam would move it ~0.002 a step, i.e. not at all in a short run."""
    config_path, weights = write_tiny_model(tmp_path / "cnn", TINY_CNN, name="tiny-cnn",
                                            captions_csv=FLICKR / "captions.csv")
    spec = ModelSpec("tiny-cnn", str(weights), str(config_path))
    lib, _ = captioned_library(tmp_path, spec, photos=50, captioned=45)  # 25 train: 2 steps
    key = lib.model_key
    config = AdaptConfig(text=False, visual=True, epochs=2, batch_size=16, negatives=8)
    cancel = CancelToken()  # stopped in epoch 2: epoch 1's checkpoint stays (a finished
    adaptation.adapt(lib, (config,), rerank=False, cancel=cancel,  # run deletes it)
                     progress=lambda p: p.phase == "training" and p.epoch == 2 and
                     cancel.cancel())
    saved = torch.load(adaptation.adaptation_dir(lib, key) / "visual" / "checkpoint.pt",
                       weights_only=True)
    border = saved["model"]["visual.border"]
    assert border.abs().max() > 10 * config.lr * 2  # out of reach at the token rate


def test_few_tag_queries_do_not_steer_the_score():
    """One query per tag: a single lucky hit moves Recall@5 by 20 points; it must not decide
    which epoch is kept. With many (caption) queries recall counts again."""
    from photofind.adapt.judging import tagged_score

    few = {"R@1": 0.0, "R@5": 0.0, "R@10": 0.0, "mAP": 4.0, "queries": 5}
    lucky = {**few, "R@5": 20.0, "R@10": 20.0}
    assert tagged_score(few, 60.0) == tagged_score(lucky, 60.0) == 32.0
    assert tagged_score(few, 77.0) > tagged_score(lucky, 60.0)
    many = {**lucky, "queries": 500}
    assert tagged_score(many, 60.0) > tagged_score({**few, "queries": 500}, 60.0)


def test_concept_words_alone_send_only_their_texts_through_the_tower(tiny_model):
    """With no learned context, a text that names no concept takes the frozen tower's
    features (encoded once); one that names a concept learns through the tower: the same
    features as sending every text through it, for a fraction of the cost."""
    import numpy as np

    from photofind.adapt.data import build_data
    from photofind.adapt.trainer import PromptTrainer

    loaded = load_model(tiny_model, "cpu")
    texts = [(pid, "caption", f"a dog number {pid}") for pid in range(1, 41)] + \
        [(pid, "tag", "Biscuit") for pid in range(41, 61)]
    data = build_data(texts, list(range(1, 81)), seed=0)
    dim = int(loaded.model.encode_text(loaded.tokenizer(["x"])).shape[1])
    trainer = PromptTrainer(loaded.model, loaded.tokenizer, data,
                            AdaptConfig(text=False, visual=False, adapter=True),
                            zero_shot=lambda ids: np.ones((len(ids), dim), np.float32),
                            pixels=lambda ids: iter(()), image_size=32)
    trainer.adaptation.add_concepts({"c_biscuit": ["Biscuit"]}, loaded.model, loaded.tokenizer)
    queries = ["a dog runs", "a photo of Biscuit", "two dogs", "Biscuit on the sofa"]
    prompts, through_tower = trainer.adaptation.text, []
    tower_forward = prompts.forward
    prompts.forward = lambda batch, *a: through_tower.append(batch) or tower_forward(batch, *a)
    mixed = trainer.text_features(queries)
    assert through_tower == [["a photo of Biscuit", "Biscuit on the sofa"]]
    every = F.normalize(tower_forward(queries).float(), dim=-1)
    assert torch.allclose(mixed, every, atol=1e-5)
    mixed[1].sum().backward()
    assert prompts.concepts["c_biscuit"].grad.abs().sum() > 0
