"""A person's own captions and tags: into the real catalog and its FTS index, found by search
at once, kept when the photo's metadata is read again, given to Adapt; written to an XMP
sidecar only when asked, merged into another program's sidecar, never into the photo."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from photofind.cli import main
from photofind.library.metadata.xmp_write import sidecar_for
from photofind.services.editing import TextEdit

from conftest import make_photos

DIGIKAM_SIDECAR = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:digiKam="http://www.digikam.org/ns/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmp:Rating="4">
   <digiKam:TagsList><rdf:Seq><rdf:li>Pets/Dog</rdf:li><rdf:li>Places/Beach</rdf:li></rdf:Seq>
   </digiKam:TagsList>
   <dc:subject><rdf:Bag><rdf:li>Dog</rdf:li><rdf:li>Beach</rdf:li></rdf:Bag></dc:subject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def listing(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and its SHA-256: what "nothing written" is checked by."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def indexed(library, tmp_path: Path, count: int = 4):
    folder = tmp_path / "photos"
    photos = make_photos(folder, count)
    library.index([folder])
    return folder, photos, [library.catalog.photo_by_path(p).id for p in photos]


def own(library, photo_id: int) -> list[tuple[str, str]]:
    return [(t["kind"], t["text"]) for t in library.catalog.texts(photo_id)
            if t["source"] == "photofind"]


def test_edit_is_searchable_at_once_kept_on_reread_and_used_by_adapt(library, tmp_path):
    folder, photos, ids = indexed(library, tmp_path)
    before = listing(folder)
    report = library.edit_texts([ids[1]], TextEdit("Biscuit asleep on the sofa",
                                                   ("Biscuit", " biscuit ", "sofa", "")))
    assert report.photos == 1 and report.sidecars == [] and report.problems == []
    assert own(library, ids[1]) == [("caption", "Biscuit asleep on the sofa"),
                                    ("tag", "Biscuit"), ("tag", "sofa")]
    assert listing(folder) == before  # no sidecar, the photos untouched

    hits = library.search("Biscuit", k=4, rerank=False)
    assert hits[0].photo.id == ids[1] and hits[0].text_match
    assert [h.photo.id for h in library.search("Biscuit", k=4, rerank=False) if h.text_match] \
        == [ids[1]]
    assert ("Biscuit" in [t for _, _, t, _ in library.catalog.all_texts()])  # Adapt's data
    assert "Biscuit" in library.catalog.tag_names()

    # the photo's metadata changes and is read again: the person's own texts stay
    photos[1].with_suffix(".txt").write_text("a caption from a text file")
    library.index([folder])
    texts = [(t["kind"], t["text"]) for t in library.catalog.texts(ids[1])]
    assert ("caption", "a caption from a text file") in texts
    assert own(library, ids[1])[1:] == [("tag", "Biscuit"), ("tag", "sofa")]

    library.edit_texts([ids[1]], TextEdit(caption="", remove_tags=("BISCUIT",)))
    assert own(library, ids[1]) == [("tag", "sofa")]
    assert not [h for h in library.search("Biscuit", k=4, rerank=False) if h.text_match]


def test_a_selection_is_edited_together_and_file_tags_are_kept(library, tmp_path):
    folder, photos, ids = indexed(library, tmp_path)
    photos[0].with_suffix(".txt").write_text("beach day")
    sidecar_for(photos[0]).write_text(DIGIKAM_SIDECAR)  # another program's tags
    library.index([folder])
    library.edit_texts(ids[:3], TextEdit(add_tags=("Holiday 2024",)))
    seen = library.editable_texts(ids[:3])
    assert seen.photos == 3 and seen.own_tags == {"Holiday 2024": 3}
    assert seen.file_tags == {"Dog": 1, "Beach": 1}

    library.edit_texts(ids[:3], TextEdit(remove_tags=("Holiday 2024", "Dog")))
    seen = library.editable_texts(ids[:3])
    assert seen.own_tags == {} and seen.file_tags == {"Dog": 1, "Beach": 1}  # not ours to drop
    assert sidecar_for(photos[0]).read_text() == DIGIKAM_SIDECAR


def test_sidecar_only_when_asked_and_merged_into_another_programs(library, tmp_path):
    folder, photos, ids = indexed(library, tmp_path)
    sidecar_for(photos[0]).write_text(DIGIKAM_SIDECAR)
    library.index([folder])
    before = listing(folder)

    report = library.edit_texts(ids[:2], TextEdit("Biscuit at the beach", ("Biscuit",),
                                                  ("dog",)), sidecars=True)
    assert report.problems == [] and report.sidecars == [str(sidecar_for(p)) for p in photos[:2]]
    after = listing(folder)
    changed = {name for name in after if before.get(name) != after[name]}
    assert changed == {"photo-0000.jpg.xmp", "photo-0001.jpg.xmp"}  # the photos are untouched

    merged = sidecar_for(photos[0]).read_text()
    assert 'xmp:Rating="4"' in merged and "Places/Beach" in merged  # the other program's
    assert "Pets/Dog" not in merged and ">Dog<" not in merged  # the removed tag, everywhere
    assert "Biscuit at the beach" in merged and ">Biscuit<" in merged

    library.index([folder])  # the sidecars are read like any other
    texts = {(t["kind"], t["text"], t["source"]) for t in library.catalog.texts(ids[1])}
    assert ("tag", "Biscuit", "photofind") in texts  # and the catalog holds each once
    assert not any(k == "tag" and t == "Biscuit" and s != "photofind" for k, t, s in texts)
    # with sidecars on, a tag photofind wrote into a sidecar can be taken out again
    assert library.editable_texts([ids[0]], sidecars=True).own_tags == \
        {"Beach": 1, "Biscuit": 1}
    library.edit_texts([ids[0]], TextEdit(remove_tags=("beach",)), sidecars=True)
    assert "Beach" not in sidecar_for(photos[0]).read_text()
    assert "Beach" not in [t["text"] for t in library.catalog.texts(ids[0])]


def test_an_unreadable_sidecar_is_left_alone_and_the_edit_still_counts(library, tmp_path):
    folder, photos, ids = indexed(library, tmp_path, 2)
    sidecar_for(photos[0]).write_bytes(b"<x:xmpmeta><not xml")
    report = library.edit_texts([ids[0]], TextEdit(add_tags=("Biscuit",)), sidecars=True)
    assert report.sidecars == [] and len(report.problems) == 1
    assert "not readable XMP" in report.problems[0][1]
    assert sidecar_for(photos[0]).read_bytes() == b"<x:xmpmeta><not xml"
    assert own(library, ids[0]) == [("tag", "Biscuit")]


def test_edit_command(library, tmp_path, tiny_model, capsys):
    folder, photos, _ = indexed(library, tmp_path, 2)
    data_dir = library.data_dir
    library.close()
    model = ["--model", tiny_model.name, "--model-config", tiny_model.config,
             "--pretrained", tiny_model.pretrained]
    code = main(["--data-dir", str(data_dir), *model, "edit", str(photos[0]),
                 str(tmp_path / "elsewhere.jpg"), "--caption", "Biscuit", "--add-tag", "dog",
                 "--json"])
    out, err = capsys.readouterr()
    assert code == 1 and "elsewhere.jpg is not in the library" in err
    assert json.loads(out) == {"edited": 1, "sidecars": [], "problems": [],
                               "not_in_library": [str(tmp_path / "elsewhere.jpg")]}
    code = main(["--data-dir", str(data_dir), *model, "search", "Biscuit", "--json",
                 "--no-rerank", "-k", "1"])
    out, _ = capsys.readouterr()
    assert code == 0 and json.loads(out)[0]["path"] == str(photos[0])
