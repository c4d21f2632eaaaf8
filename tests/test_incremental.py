"""Re-indexing does only the work that changed: counted in real encoder calls."""

from __future__ import annotations

import os
import shutil

from PIL import Image, ImageOps

from conftest import make_photos


def test_add_modify_delete_reindex(library, tmp_path):
    photos = make_photos(tmp_path / "lib", 12)
    first = library.index([tmp_path / "lib"])
    assert first.added == 12 and library.embedder.images_encoded == 12

    again = library.index([tmp_path / "lib"])
    assert again.unchanged == 12 and library.embedder.images_encoded == 12  # nothing re-encoded

    added = make_photos(tmp_path / "lib" / "new", 3, start=100)
    modified = photos[0]
    ImageOps.mirror(Image.open(modified)).save(modified, quality=90)
    os.utime(modified, (1e9, 1e9))
    before = library.catalog.photo_by_path(modified)
    old_vector = library.vectors.vector(before.id)
    photos[1].unlink()

    report = library.index([tmp_path / "lib"])
    assert (report.added, report.updated, report.removed, report.unchanged) == (3, 1, 1, 10)
    assert library.embedder.images_encoded == 12 + 4
    after = library.catalog.photo_by_path(modified)
    assert after.id == before.id and after.content_hash != before.content_hash
    assert not (library.vectors.vector(after.id) == old_vector).all()
    assert library.catalog.photo_by_path(photos[1]) is None
    assert library.catalog.photo_by_path(added[0]) is not None
    ids = {pid for pid, _ in library.vectors.search(old_vector, 50)}
    assert len(ids) == 14 and library.catalog.counts()["photos"] == 14


def test_touch_and_rename_do_not_reencode(library, tmp_path):
    make_photos(tmp_path / "lib" / "trip", 8)
    library.index([tmp_path / "lib"])
    encoded = library.embedder.images_encoded
    one = next((tmp_path / "lib" / "trip").iterdir())
    os.utime(one, (2e9, 2e9))  # mtime changes, bytes do not
    touched = library.index([tmp_path / "lib"])
    assert touched.unchanged == 8 and touched.updated == 0
    assert library.catalog.photo_by_path(one).mtime == 2e9
    shutil.move(tmp_path / "lib" / "trip", tmp_path / "lib" / "Trip 2019")
    report = library.index([tmp_path / "lib"])
    assert report.moved == 8 and report.removed == 0 and report.added == 0
    assert library.embedder.images_encoded == encoded
    paths = {row.path for row in library.catalog.photos()}
    assert all("Trip 2019" in p for p in paths) and len(paths) == 8


def test_duplicate_copies_share_the_vector(library, tmp_path):
    photo = make_photos(tmp_path / "lib", 1)[0]
    shutil.copy2(photo, tmp_path / "lib" / "copy.jpg")
    report = library.index([tmp_path / "lib"])
    assert report.added == 2 and library.embedder.images_encoded == 1


def test_forget_removes_from_catalog_and_index_not_disk(library, tmp_path):
    photos = make_photos(tmp_path / "lib", 5)
    library.index([tmp_path / "lib"])
    assert library.forget(tmp_path / "lib") == 5
    assert library.catalog.counts()["photos"] == 0 and len(library.vectors) == 0
    assert all(p.exists() for p in photos)
