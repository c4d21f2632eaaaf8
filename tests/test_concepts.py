"""Personal concepts: learned words for tags the model cannot know."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys

import torch

from photofind.adapt.prompts import ConceptVocabulary, TextPrompt
from photofind.adapt.store import AdaptConfig
from photofind.embed.model import load_model
from photofind.library.metadata import TextItem
from photofind.search.filters import SearchFilters
from photofind.services import adapting as adaptation
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


def test_concepts_are_learned_listed_and_removed(tmp_path, tiny_model):
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
    adaptation.reset(lib)
    assert adaptation.concepts(lib) == []
    lib.close()
