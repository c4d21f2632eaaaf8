"""Captions and tags people wrote: stored with provenance, searched, filtered, re-read."""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys

import pytest
from PIL import Image

from photofind.search.filters import SearchFilters

from conftest import make_photos

XMP = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""
 xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag>
 <rdf:li>{tag}</rdf:li></rdf:Bag></dc:subject><dc:description><rdf:Alt>
 <rdf:li xml:lang="x-default">{caption}</rdf:li></rdf:Alt></dc:description>
</rdf:Description></rdf:RDF></x:xmpmeta>"""


def with_exif(path, make, model, when):
    image = Image.open(path)
    exif = image.getexif()
    exif[0x010F], exif[0x0110] = make, model
    exif.get_ifd(0x8769)[0x9003] = when  # DateTimeOriginal
    image.save(path, exif=exif, quality=90)


def fingerprint(folder):
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def tagged(library, tmp_path):
    photos = make_photos(tmp_path / "lib", 12)
    (tmp_path / "lib" / "trip").mkdir()
    photos[8:] = [p.rename(tmp_path / "lib" / "trip" / p.name) for p in photos[8:]]
    for i, photo in enumerate(photos[:6]):
        with_exif(photo, "Canon" if i % 2 else "NIKON", "EOS 5D" if i % 2 else "D750",
                  f"20{10 + i}:06:0{1 + i} 12:00:00")
    (photos[3].with_suffix(".xmp")).write_text(
        XMP.format(tag="Emma", caption="Emma with her red bucket"), encoding="utf-8")
    (photos[5].with_suffix(".txt")).write_text("桜の下で 🐶 Biscuit", encoding="utf-8")
    before = fingerprint(tmp_path / "lib")
    library.index([tmp_path / "lib"])
    return library, photos, before


def test_texts_are_stored_with_provenance(tagged):
    library, photos, _ = tagged
    texts = library.photo_details(photos[3])["texts"]
    assert {"kind": "tag", "text": "Emma", "source": "xmp:dc:subject",
            "file": str(photos[3].with_suffix(".xmp")), "hierarchy": ""} in texts
    assert any(t["text"] == "Emma with her red bucket" and t["kind"] == "caption" for t in texts)
    japanese = library.photo_details(photos[5])["texts"]
    assert japanese[0]["text"] == "桜の下で 🐶 Biscuit" and japanese[0]["source"] == "txt-sidecar"
    details = library.photo_details(photos[1])
    assert (details["camera_make"], details["camera_model"]) == ("Canon", "EOS 5D")
    assert details["taken_at"].startswith("2011-06-02T12:00:00")


def test_a_name_the_model_cannot_know_is_found_by_its_tag(tagged):
    library, photos, _ = tagged
    results = library.search("Emma at the beach", k=5)
    assert results[0].path == str(photos[3]) and results[0].text_match
    vector_only = library.search("Emma at the beach", k=12, hybrid=False)
    assert not any(r.text_match for r in vector_only)
    assert library.search("桜", k=3)[0].path == str(photos[5])  # non-ASCII words match


def test_one_match_number_follows_the_order_shown(tagged):
    library, photos, _ = tagged
    results = library.search("Emma at the beach", k=12)
    shown = [r.relevance for r in results]
    assert all(isinstance(v, int) and 0 <= v <= 100 for v in shown)
    assert shown == sorted(shown, reverse=True)  # the order a person sees, never a dip
    lifted = results[0]  # lifted by its tag above photos the model scores higher
    assert lifted.text_match and lifted.score < max(r.score for r in results[1:])
    assert lifted.relevance == max(shown)  # yet it never shows less than those below it
    assert lifted.as_dict()["relevance"] == lifted.relevance
    assert [r.relevance for r in library.search(None, k=3, filters=SearchFilters(
        camera="canon"))] == [None] * 3  # listing by filters: no match to show


def test_relevance_maps_cosines_and_never_rises_down_the_list():
    from photofind.search.relevance import CEILING, FLOOR, relevances

    assert relevances([CEILING + 0.1, FLOOR - 0.3]) == [100, 0]
    assert relevances([0.10, 0.30, 0.20]) == [83, 83, 50]  # a lifted photo shows what it overtook
    assert relevances([None, 0.2, None]) == [None, 50, None]
    assert relevances([]) == []


def test_filters_narrow_results_and_work_without_a_query(tagged, tmp_path):
    from photofind.search.filters import SearchFilters

    library, photos, _ = tagged
    by_tag = library.search(filters=SearchFilters(tag="emma"))
    assert [r.path for r in by_tag] == [str(photos[3])]
    canon = library.search("a dog", k=20, filters=SearchFilters(camera="canon"))
    assert {r.path for r in canon} == {str(photos[i]) for i in (1, 3, 5)}
    dated = library.search(filters=SearchFilters(date_from="2012-01-01", date_to="2014-06-05"))
    assert [r.path for r in dated] == [str(photos[4]), str(photos[3]), str(photos[2])]
    assert all(r.score is None for r in dated)  # listed by date, newest first
    trip = library.search("people", k=20, filters=SearchFilters(folder=str(tmp_path / "lib" / "trip")))
    assert {r.path for r in trip} == {str(p) for p in photos[8:]}
    captioned = library.search(filters=SearchFilters(has_caption=True), k=20)
    assert {r.path for r in captioned} == {str(photos[3]), str(photos[5])}
    both = library.search("anything", filters=SearchFilters(camera="nikon", has_caption=True))
    assert both == []


def test_sidecar_edit_rereads_metadata_without_reembedding(tagged, tmp_path):
    library, photos, before = tagged
    encoded = library.embedder.images_encoded
    sidecar = photos[3].with_suffix(".xmp")
    sidecar.write_text(XMP.format(tag="Pemberton", caption="a boat"), encoding="utf-8")
    os.utime(sidecar, (3e9, 3e9))
    report = library.index([tmp_path / "lib"])
    assert report.metadata_updated == 1 and report.unchanged == 11
    assert library.embedder.images_encoded == encoded
    assert library.search("Pemberton", k=1)[0].path == str(photos[3])
    from photofind.search.filters import SearchFilters
    assert library.search(filters=SearchFilters(tag="Emma")) == []
    sidecar.unlink()
    assert library.index([tmp_path / "lib"]).metadata_updated == 1
    assert library.photo_details(photos[3])["texts"] == []
    photo_files = {k: v for k, v in fingerprint(tmp_path / "lib").items() if k.endswith(".jpg")}
    assert photo_files == {k: v for k, v in before.items() if k.endswith(".jpg")}


def test_import_captions_and_show_in_the_cli(tagged, tmp_path):
    library, photos, before = tagged
    table = tmp_path / "captions.csv"
    with open(table, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "caption", "tags"])
        writer.writerow([str(photos[0]), "Grandpa's cabin by the lake", "cabin;lake"])
        writer.writerow([str(tmp_path / "elsewhere.jpg"), "not indexed", ""])
    data_dir = str(library.data_dir)
    library.close()
    run = [sys.executable, "-m", "photofind", "--data-dir", data_dir]
    done = subprocess.run(run + ["import-captions", str(table)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "for 1 photos" in done.stdout and "elsewhere.jpg" in done.stdout
    shown = subprocess.run(run + ["show", str(photos[0])], capture_output=True, text=True)
    assert "Grandpa's cabin by the lake" in shown.stdout and "csv-import" in shown.stdout
    assert "NIKON D750" in shown.stdout
    found = subprocess.run(run + ["search", "--tag", "cabin"], capture_output=True, text=True)
    assert str(photos[0]) in found.stdout
    assert fingerprint(tmp_path / "lib") == before  # photo folders never written
