"""Personal concepts: learned words for tags the model cannot know."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

import numpy as np
import torch
from safetensors import safe_open

from photofind.adapt.prompts import ConceptVocabulary, TextPrompt
from photofind.adapt.store import AdaptConfig
from photofind.embed.model import load_model
from photofind.library.metadata import TextItem
from photofind.search.filters import SearchFilters
from photofind.services import adapting as adaptation
from photofind.services import artefacts
from photofind.services.library import PhotoLibrary

from conftest import shared_data


def test_query_parsing_replaces_exactly_the_concept_spans():
    vocabulary = ConceptVocabulary()
    vocabulary.add("c_cabin", ["Grandpa's cabin", "cabin"])
    vocabulary.add("c_emma", ["People/Emma", "Emma"])
    texts, keys = vocabulary.substitute(
        ["emma at GRANDPA'S   Cabin", "a cabin by the lake", "Emmanuel's cabins", "no names"],
        "sks")
    assert texts == ["sks at sks", "a sks by the lake", "Emmanuel's cabins", "no names"]
    assert keys == [["c_emma", "c_cabin"], ["c_cabin"], [], []]


def test_a_concept_word_learns_and_nothing_else_changes(tiny_model):
    loaded = load_model(tiny_model, "cpu")
    prompt = TextPrompt(loaded.model, loaded.tokenizer, n_ctx=0)
    plain = ["a dog runs on the grass", "two children at the beach"]
    with torch.no_grad():
        before = prompt(plain)
    prompt.add_concept("c_biscuit", ["Biscuit"])
    with torch.no_grad():  # a query without concepts encodes exactly as before
        assert torch.equal(prompt(plain), before)
        assert torch.allclose(before, loaded.model.encode_text(loaded.tokenizer(plain)),
                              atol=1e-5)
    weights = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    prompt(["Biscuit on the beach"]).sum().backward()
    assert prompt.concepts["c_biscuit"].grad.abs().sum() > 0
    assert all(p.grad is None for p in loaded.model.parameters())
    assert all(torch.equal(weights[k], v) for k, v in loaded.model.state_dict().items())


def flower_library(tmp_path, tiny_model) -> PhotoLibrary:
    """45 real flower photos, 25 daisies tagged "Biscuit" and 25 tulips "Pemberton": names
    the model cannot know."""
    flowers = shared_data("flowers")
    with open(flowers / "tags.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    names = {"daisy": "Biscuit", "tulips": "Pemberton"}
    chosen = [r for kind in names for r in [x for x in rows if x["tags"] == kind][:25]]
    others = [r for r in rows if r["tags"] not in names][:20]
    (tmp_path / "photos").mkdir()
    for row in chosen + others:
        shutil.copy(flowers / "images" / row["image"], tmp_path / "photos" / row["image"])
    lib = PhotoLibrary(tmp_path / "data", model=tiny_model, workers=1)
    lib.index([tmp_path / "photos"])
    with lib.catalog.transaction() as db:
        for row in chosen:
            photo = lib.catalog.photo_by_path(tmp_path / "photos" / row["image"])
            lib.catalog.add_texts(db, photo.id, [TextItem("tag", names[row["tags"]], "test", "")])
    return lib


def test_concepts_are_learned_listed_and_removed(tmp_path, tiny_model):
    lib = flower_library(tmp_path, tiny_model)
    config = AdaptConfig(text=False, visual=False, epochs=2, batch_size=16,
                         concept_max_ap=101.0)
    result = adaptation.adapt(lib, (config,))
    assert "concepts" in result.variant
    assert result.kept, result.summary()  # seeded: two unknown names beat random zero-shot
    # held-out tagged photos are asked for their tag: 2 names, so chance is 50 %
    assert result.after["tag_accuracy"] > result.before["tag_accuracy"]
    listed = {c["name"]: c for c in adaptation.concepts(lib)}
    assert set(listed) == {"Biscuit", "Pemberton"}
    assert listed["Biscuit"]["photos"] >= 5 and listed["Biscuit"]["mode"] in ("token", "prototype")
    data_dir = str(lib.data_dir)
    lib.close()
    shown = subprocess.run([sys.executable, "-m", "photofind", "--data-dir", data_dir,
                            "concepts"], capture_output=True, text=True)
    assert "Biscuit" in shown.stdout and "Pemberton" in shown.stdout
    lib = PhotoLibrary(data_dir, model=tiny_model, workers=0)
    biscuits = lib.search(filters=SearchFilters(tag="Biscuit"), k=100)
    with lib.catalog.transaction() as db:  # the person removes the tag everywhere
        for hit in biscuits:
            lib.catalog.set_texts(db, hit.photo.id, [])  # the tag was their only text
    lib.close()
    lib = PhotoLibrary(data_dir, model=tiny_model, workers=0)
    assert {c["name"] for c in adaptation.concepts(lib)} == {"Pemberton"}
    assert biscuits and lib.embedder.adaptation.text.vocabulary.find("Biscuit") == []
    saved = artefacts.locate(lib, artefacts.ADAPTATION, lib.embedder.base_key)
    assert sorted(adaptation.drop_concepts(lib, ["c_biscuit", "c_pemberton"])) == \
        ["Biscuit", "Pemberton"]  # nothing learned is left: back to the plain model
    assert lib.embedder.adaptation is None and not saved.exists()
    assert not artefacts.recorded(lib, artefacts.ADAPTATION, lib.embedder.base_key)
    adaptation.reset(lib)
    assert adaptation.concepts(lib) == []
    lib.close()


def test_a_dropped_concept_is_gone_for_good_and_the_photos_stay(tmp_path, tiny_model):
    lib = flower_library(tmp_path, tiny_model)
    config = AdaptConfig(text=False, visual=False, adapter=True, epochs=2, batch_size=16,
                         concept_max_ap=101.0)  # the app's second variant: photos change too
    result = adaptation.adapt(lib, (config,), rerank=False)
    assert result.kept and result.variant == "adapter+concepts", result.summary()
    key = lib.model_key
    assert "|adapted:" in key
    ids, vectors = lib.catalog.embeddings(key)
    saved = artefacts.locate(lib, artefacts.ADAPTATION, lib.embedder.base_key)
    old_bytes = saved.read_bytes()
    queries = ["Biscuit on the grass", "biscuit", "Pemberton in a vase", "Pemberton"]
    plain = lib.embedder.adapted(None).encode_texts(queries)  # the text tower alone
    learned = lib.embedder.encode_texts(queries)
    assert (np.sum(plain * learned, axis=1) < 0.999).all()  # all four use a learned word

    assert adaptation.drop_concepts(lib, ["c_biscuit", "c_nobody"]) == ["Biscuit"]
    assert adaptation.drop_concepts(lib, ["c_nobody"]) == []  # nothing to do

    def check(lib) -> None:
        assert [c["name"] for c in adaptation.concepts(lib)] == ["Pemberton"]
        now = lib.embedder.encode_texts(queries)
        assert np.allclose(now[:2], plain[:2], atol=1e-4)  # Biscuit: ordinary words again
        assert np.allclose(now[2:], learned[2:], atol=1e-5)  # Pemberton: still learned
        assert lib.model_key == key  # the image side is the same: nothing re-embedded
        same_ids, same_vectors = lib.catalog.embeddings(key)
        assert np.array_equal(same_ids, ids) and np.array_equal(same_vectors, vectors)

    check(lib)
    assert saved.read_bytes() != old_bytes
    assert sorted(p.name for p in saved.parent.iterdir() if p.suffix == ".tmp") == []
    meta = json.loads(saved.with_suffix(".json").read_text())
    assert set(meta["concepts"]) == set(meta["config"]["concepts"]) == {"c_pemberton"}
    with safe_open(str(saved), "pt") as tensors:
        assert "text.concepts.c_pemberton" in tensors.keys()
        assert not any("biscuit" in name for name in tensors.keys())
    data_dir = lib.data_dir
    lib.close()
    lib = PhotoLibrary(data_dir, model=tiny_model, workers=0)  # from disk: still gone
    check(lib)
    lib.close()
    dropped = subprocess.run([sys.executable, "-m", "photofind", "--data-dir", str(data_dir),
                              "concepts", "--drop", "pemberton", "--drop", "Biscuit"],
                             capture_output=True, text=True)
    assert dropped.stdout == "Stopped using: Pemberton.\n"
    assert "no personal concept 'Biscuit' in use" in dropped.stderr and dropped.returncode == 1
    lib = PhotoLibrary(data_dir, model=tiny_model, workers=0)
    assert adaptation.concepts(lib) == [] and lib.embedder.adaptation.text is None
    assert lib.model_key == key  # the adapter stays, and with it the adapted photos
    assert np.allclose(lib.embedder.encode_texts(queries), plain, atol=1e-4)
    lib.close()
