"""`photofind eval` runs both protocols end to end on real photos (tiny model: the numbers
themselves are the bench model's job, in benchmarks/)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

from conftest import flickr_photos, shared_data


def subset_csv(source, dest, images):
    with open(source, encoding="utf-8") as handle, open(dest, "w", newline="") as out:
        reader = csv.DictReader(handle)
        writer = csv.DictWriter(out, reader.fieldnames)
        writer.writeheader()
        writer.writerows(r for r in reader if r["image"] in images)


def run_eval(tmp_path, tiny_model, *args):
    done = subprocess.run(
        [sys.executable, "-m", "photofind", "--model-config", tiny_model.config,
         "--pretrained", tiny_model.pretrained, "--workers", "1", "--data-dir",
         str(tmp_path / "unused"), "eval", *args, "--out", str(tmp_path / "out"),
         "--epochs", "1", "--batch-size", "16"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_captioned_protocol(tmp_path, tiny_model):
    photos = flickr_photos(70)
    (tmp_path / "lib").mkdir()
    for photo in photos:
        shutil.copy(photo, tmp_path / "lib")
    subset_csv(shared_data("flickr8k") / "captions.csv", tmp_path / "c.csv", {p.name for p in photos})
    done = run_eval(tmp_path, tiny_model, "captioned", str(tmp_path / "lib"),
                    str(tmp_path / "c.csv"), "--variants", "zero-shot,text,zero-shot+rerank")
    result = json.loads((tmp_path / "out" / "captioned.json").read_text())
    runs = {r["variant"]: r for r in result["runs"]}
    assert runs["zero-shot"]["queries"] == 21 * 5 and runs["zero-shot"]["gallery"] == 70
    assert 0 <= runs["text"]["R@1"] <= runs["text"]["R@10"] <= 100
    assert runs["text"]["kept"] in (True, False)
    assert "weight" in runs["zero-shot+rerank"]["rerank"]
    assert "| captioned |" in done.stdout and (tmp_path / "out" / "captioned.md").exists()


def test_tagged_protocol_with_distractors_and_names(tmp_path, tiny_model):
    flowers, everyday = shared_data("flowers"), flickr_photos(20)
    with open(flowers / "tags.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    chosen = [r for kind in ("daisy", "tulips") for r in [x for x in rows if x["tags"] == kind][:110]]
    (tmp_path / "flowers").mkdir()
    for row in chosen:
        shutil.copy(flowers / "images" / row["image"], tmp_path / "flowers")
    subset_csv(flowers / "tags.csv", tmp_path / "t.csv", {r["image"] for r in chosen})
    (tmp_path / "everyday").mkdir()
    for photo in everyday:
        shutil.copy(photo, tmp_path / "everyday")
    run_eval(tmp_path, tiny_model, "tagged", str(tmp_path / "flowers"), str(tmp_path / "t.csv"),
             "--distractors", str(tmp_path / "everyday"), "--names", "daisy=Biscuit",
             "--variants", "zero-shot,concepts")
    result = json.loads((tmp_path / "out" / "tagged.json").read_text())
    conditions = {(r["condition"], r["variant"]) for r in result["runs"]}
    assert conditions == {("as written", "zero-shot"), ("as written", "concepts"),
                          ("made-up names", "zero-shot"), ("made-up names", "concepts")}
    for run in result["runs"]:
        assert 0 <= run["mAP_template"] <= 100 and 0 <= run["P@10_word"] <= 100


def test_a_ranking_hnsw_left_short_is_completed_by_exact_cosine():
    """Asked for every photo, HNSW can return fewer (its search need not reach every node;
    eval then crashed on a ragged array of rankings). The photos it missed follow by exact
    cosine, and what it found keeps its order."""
    import numpy as np

    from photofind.services.evaluate import completed_ranking

    rng = np.random.default_rng(0)
    ids = np.arange(10, 20)
    vectors = rng.normal(size=(10, 4)).astype(np.float32)
    query = rng.normal(size=4).astype(np.float32)
    exact = ids[np.argsort(-(vectors @ query))].tolist()
    found = [exact[3], exact[0]]  # what the graph reached, in its own order
    ranking = completed_ranking(found, query, ids, vectors)
    assert ranking[:2] == found
    assert ranking[2:] == [pid for pid in exact if pid not in found]
    assert completed_ranking(exact, query, ids, vectors) == exact
