"""The live library: real file-system events, real observers, the tiny model.

Every wait is a bounded polling loop on the catalog or the search results, never a fixed
sleep, so the tests take as long as the watcher needs and fail loudly when it stalls.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import sqlite3
import sys

import numpy as np
import pytest
from PIL import Image, ImageOps
from watchdog.events import FileCreatedEvent, FileMovedEvent

from photofind.library.changes import ChangeSet, sidecar_owners
from photofind.services.watch import OFFLINE, POLLING, WATCHING, LibraryWatcher

from conftest import make_photos, wait_for, watch_command_while


def catalog_paths(library) -> set[str]:
    return {row.path for row in library.catalog.photos() if row.error is None}


def found_paths(library, k: int = 2000) -> set[str]:
    """What a search can return (every served photo: k is above the library's size)."""
    if not library.catalog.counts()["photos"]:
        return set()
    return {result.path for result in library.search("a photo", k=k)}


@pytest.fixture
def watch(library):
    """Start a fast-reacting watcher on ``library``; stopped at the end of the test."""
    started = []

    def start(reconcile: bool = False, **options) -> LibraryWatcher:
        options = {"debounce": 0.3, "check_every": 0.2, **options}
        watcher = LibraryWatcher(library, on_change=reports.append, **options)
        watcher.reports = reports
        started.append(watcher.start(reconcile=reconcile))
        return watcher

    reports: list = []
    yield start
    for watcher in started:
        watcher.stop()


def settle(watcher, timeout: float = 30.0) -> None:
    wait_for(lambda: not watcher.busy, timeout, "the watcher to finish its passes")


def test_copied_photos_are_indexed_in_one_batched_pass(library, tmp_path, watch):
    (tmp_path / "lib").mkdir()
    library.index([tmp_path / "lib"])
    watcher = watch()
    assert watcher.state(tmp_path / "lib") == WATCHING
    batches = library.embedder.image_batches
    copied = make_photos(tmp_path / "lib" / "import", 20)
    wait_for(lambda: found_paths(library) == {str(p) for p in copied}, what="20 photos found")
    settle(watcher)
    assert library.embedder.images_encoded == 20
    # full batches (one more if the copy was caught in two passes), not one call per photo
    assert library.embedder.image_batches - batches <= -(-20 // library.batch_size) + 1


def test_renamed_folder_keeps_vectors(library, tmp_path, watch):
    make_photos(tmp_path / "lib" / "trip", 50)
    library.index([tmp_path / "lib"])
    encoded, ids = library.embedder.images_encoded, {r.id for r in library.catalog.photos()}
    watcher = watch()
    (tmp_path / "lib" / "trip").rename(tmp_path / "lib" / "Trip 2019")
    wait_for(lambda: all("/Trip 2019/" in p for p in catalog_paths(library)), what="new paths")
    settle(watcher)
    assert len(found_paths(library)) == 50 and all("/Trip 2019/" in p for p in found_paths(library))
    assert library.embedder.images_encoded == encoded  # nothing re-encoded
    assert {r.id for r in library.catalog.photos()} == ids
    assert sum(r.moved for r in watcher.reports) == 50


def test_deleted_photos_vanish_and_modified_ones_are_reembedded_once(library, tmp_path, watch):
    photos = make_photos(tmp_path / "lib", 10)
    library.index([tmp_path / "lib"])
    encoded = library.embedder.images_encoded
    watcher = watch()
    photos[0].unlink()
    photos[1].unlink()
    wait_for(lambda: len(found_paths(library)) == 8, what="deleted photos gone from results")
    assert str(photos[0]) not in catalog_paths(library)

    in_place, via_temp = photos[2], photos[3]  # a plain re-save, and an editor's temp + rename
    before = {p: library.catalog.photo_by_path(p) for p in (in_place, via_temp)}
    ImageOps.mirror(Image.open(in_place)).save(in_place, quality=90)
    temp = via_temp.with_name(via_temp.name + ".tmp")
    ImageOps.flip(Image.open(via_temp)).save(temp, format="JPEG", quality=90)
    temp.replace(via_temp)

    def rehashed():
        return all(library.catalog.photo_by_path(p).content_hash != row.content_hash
                   for p, row in before.items())
    wait_for(rehashed, what="modified photos re-embedded")
    settle(watcher)
    assert library.embedder.images_encoded == encoded + 2  # each changed photo exactly once
    assert all(library.catalog.photo_by_path(p).id == row.id for p, row in before.items())
    assert len(found_paths(library)) == 8


def test_root_away_and_back_keeps_its_photos(library, tmp_path, watch):
    drive, home = tmp_path / "drive", tmp_path / "home"
    make_photos(drive, 6)
    make_photos(home, 4, start=50)
    library.index([drive, home])
    encoded = library.embedder.images_encoded
    watcher = watch()
    drive.rename(tmp_path / "unplugged")
    wait_for(lambda: watcher.state(drive) == OFFLINE, what="root offline")
    found = library.search("a photo", k=20)  # still found, and marked: the drive is away
    assert len(found) == 10 and library.catalog.counts()["photos"] == 10
    assert sum(r.offline for r in found) == 6
    assert all(r.offline == r.path.startswith(str(drive) + os.sep) for r in found)
    assert not library.status()["roots"][0]["online"]
    (tmp_path / "unplugged").rename(drive)
    wait_for(lambda: not any(r.offline for r in library.search("a photo", k=20)),
             what="drive back online")
    assert watcher.state(drive) == WATCHING
    assert library.embedder.images_encoded == encoded


def test_root_gone_while_being_watched_goes_offline(library, tmp_path, watch, monkeypatch):
    """The folder vanishes between the presence check and the watch (a drive pulled at that
    moment): the watcher must survive it and take the root offline at its next check."""
    drive = tmp_path / "drive"
    make_photos(drive, 2)
    library.index([drive])
    drive.rename(tmp_path / "unplugged")
    present = library.root_present
    lies = [True]  # the first check still sees the folder
    monkeypatch.setattr(library, "root_present",
                        lambda path: lies.pop() if lies else present(path))
    watcher = watch(polling=True)
    # states() leaves out a root that has no state yet, as this one has until that check
    wait_for(lambda: watcher.states().get(str(drive)) == OFFLINE, what="root offline")
    assert not lies and watcher.running
    assert not library.status()["roots"][0]["online"]


def test_a_failed_root_check_is_retried_not_fatal(library, tmp_path, watch, monkeypatch):
    """A catalog read that fails during a root check (locked by another writer past its busy
    timeout) is logged; the watcher thread lives on and watches at the next check."""
    make_photos(tmp_path / "photos", 2)
    library.index([tmp_path / "photos"])
    roots, calls = library.catalog.roots, []

    def locked_on_the_first_background_check():
        calls.append(1)
        if len(calls) == 2:  # the first call is start()'s own check, in the caller's thread
            raise sqlite3.OperationalError("database is locked")
        return roots()
    monkeypatch.setattr(library.catalog, "roots", locked_on_the_first_background_check)
    watcher = watch()
    wait_for(lambda: len(calls) >= 3, what="a check after the failed one")
    assert watcher.running
    make_photos(tmp_path / "photos", 1, start=2)
    wait_for(lambda: len(catalog_paths(library)) == 3, what="new photo indexed")


def test_index_never_deletes_photos_of_a_missing_root(library, tmp_path):
    make_photos(tmp_path / "drive", 3)
    library.index([tmp_path / "drive"])
    shutil.rmtree(tmp_path / "drive")
    report = library.reconcile()
    assert report.removed == 0 and "offline" in report.problems[0][1]
    assert library.catalog.counts()["photos"] == 3  # still found, marked offline
    assert all(r.offline for r in library.search("a photo", k=5)) and len(found_paths(library)) == 3
    (tmp_path / "drive").mkdir()  # an unmounted drive's bare mount point: empty, not emptied
    assert library.index([tmp_path / "drive"]).removed == 0
    assert library.catalog.counts()["photos"] == 3
    make_photos(tmp_path / "drive", 3)
    assert library.reconcile().unchanged == 3 and len(found_paths(library)) == 3


def test_move_paths_repoints_rows_without_encoding(library, tmp_path):
    a, b, c = make_photos(tmp_path / "lib" / "day", 3)
    library.index([tmp_path / "lib"])
    ids = {p.name: library.catalog.photo_by_path(p).id for p in (a, b, c)}
    (tmp_path / "lib" / "day").rename(tmp_path / "lib" / "Day 1")
    moved_a, moved_b = (tmp_path / "lib" / "Day 1" / p.name for p in (a, b))
    os.replace(moved_a, moved_b)  # a moved over b: b's row and vector must go
    assert library.move_paths([(tmp_path / "lib" / "day", tmp_path / "lib" / "Day 1"),
                               (moved_a, moved_b)]) == 4
    assert library.catalog.photo_by_path(moved_b).id == ids[a.name]
    assert len(library.vectors) == 2 and library.catalog.counts()["photos"] == 2
    assert library.reconcile().unchanged == 2 and library.embedder.images_encoded == 3


def test_startup_reconciliation_finds_changes_made_while_not_watching(library, tmp_path, watch):
    photos = make_photos(tmp_path / "lib", 5)
    library.index([tmp_path / "lib"])
    make_photos(tmp_path / "lib" / "new", 3, start=20)
    photos[0].unlink()
    photos[1].rename(tmp_path / "lib" / "renamed.jpg")
    watcher = watch(reconcile=True)
    wait_for(lambda: watcher.reports, what="the reconciliation pass")
    first = watcher.reports[0]
    assert (first.added, first.removed, first.moved) == (3, 1, 1)
    assert str(tmp_path / "lib" / "renamed.jpg") in found_paths(library)
    assert len(found_paths(library)) == 7


def test_burst_of_a_thousand_files_is_batched_and_complete(library, tmp_path, watch):
    (tmp_path / "lib").mkdir()
    library.index([tmp_path / "lib"])
    blobs = []
    for i in range(1000):  # tiny, distinct JPEGs: the burst, not the decoding, is under test
        pixels = np.random.default_rng(i).integers(0, 256, (16, 16, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG")
        blobs.append(buffer.getvalue())
    batches = library.embedder.image_batches
    watcher = watch()
    for i, blob in enumerate(blobs):
        folder = tmp_path / "lib" / "card" / f"{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"IMG_{i:04d}.jpg").write_bytes(blob)
    wait_for(lambda: library.catalog.counts()["photos"] == 1000, 90, "1000 photos catalogued")
    settle(watcher)
    assert library.embedder.images_encoded == 1000
    assert library.embedder.image_batches - batches <= 1000 // library.batch_size + 10
    assert len(watcher.reports) <= 10  # a few passes, not one per file


def test_polling_fallback(library, tmp_path, watch):
    photos = make_photos(tmp_path / "share", 4)
    library.index([tmp_path / "share"])
    encoded = library.embedder.images_encoded
    watcher = watch(polling=True, poll_interval=0.2)
    assert watcher.state(tmp_path / "share") == POLLING
    added = make_photos(tmp_path / "share", 2, start=30)
    photos[0].unlink()
    photos[1].rename(tmp_path / "share" / "moved.jpg")
    expected = {str(p) for p in [*added, *photos[2:], tmp_path / "share" / "moved.jpg"]}
    wait_for(lambda: found_paths(library) == expected, what="polled changes indexed")
    settle(watcher)
    assert library.embedder.images_encoded == encoded + 2  # the rename cost no encoding


def test_sidecar_change_reindexes_its_photo_without_encoding(library, tmp_path, watch):
    photo = make_photos(tmp_path / "lib", 2)[0]
    library.index([tmp_path / "lib"])
    encoded = library.embedder.images_encoded
    watcher = watch()
    photo.with_suffix(".xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    wait_for(lambda: watcher.reports, what="a pass for the sidecar")
    settle(watcher)
    assert watcher.reports[0].scanned == 1 and library.embedder.images_encoded == encoded
    takeout = tmp_path / "lib" / f"{photo.name}.supplemental-metadata.json"
    takeout.write_text("{}")
    assert sidecar_owners([str(takeout), str(photo) + ".xmp"]) == {str(photo)}


def test_lost_events_trigger_a_rescan(library, tmp_path, watch):
    make_photos(tmp_path / "lib", 3)
    library.index([tmp_path / "lib"])
    watcher = watch()
    logging.getLogger(LibraryWatcher.OVERFLOW_LOGGER).warning(
        "Inotify queue overflowed; filesystem events were lost")
    wait_for(lambda: watcher.reports, what="the rescan")
    assert watcher.reports[0].unchanged == 3


def test_watch_command(tmp_path, tiny_model, capsys):
    """``photofind watch`` catches up, prints a line per batch and stops cleanly on Ctrl+C."""
    make_photos(tmp_path / "lib", 2)
    printed = sys.stdout.getvalue  # captured by capsys; readable while main() runs

    def user():  # in another thread: wait for the catch-up, add photos (then Ctrl+C)
        wait_for(lambda: "2 new" in printed(), 60, "the catch-up line")
        make_photos(tmp_path / "lib" / "more", 3, start=10)
        wait_for(lambda: "3 new" in printed(), 30, "the batch line")

    code = watch_command_while(user, tmp_path / "data", tiny_model, tmp_path / "lib")
    out = capsys.readouterr().out
    assert code == 0 and f"watching  {tmp_path / 'lib'}" in out
    assert "2 new" in out and "3 new" in out and "Stopped watching" in out


def test_changes_wait_for_stable_files_and_ignore_temp_files(tmp_path):
    """The debounce rules on their own, with a fake clock (no observer, no model)."""
    now = [0.0]
    changes = ChangeSet(debounce=1.0, max_wait=10.0, clock=lambda: now[0])
    root = str(tmp_path)
    for name in (".sync.jpg", "IMG_1.jpg.part", "notes.doc", "IMG_2.jpg~", ".thumbs/a.jpg"):
        changes.record(FileCreatedEvent(str(tmp_path / name)), root)
    assert len(changes) == 0 and changes.due_in() is None

    photo = tmp_path / "big.jpg"
    photo.write_bytes(b"x" * 10)
    changes.record(FileCreatedEvent(str(photo)), root)
    now[0] = 1.5
    photo.write_bytes(b"x" * 20)  # still growing, no event yet (a slow copy)
    assert not changes.take()  # changed since the last look: wait another quiet period
    now[0] = 2.6
    assert changes.take().files == {str(photo)}

    temp = tmp_path / "big.jpg.tmp"  # an editor's save: temp file renamed over the photo
    temp.write_bytes(b"y" * 5)
    changes.record(FileCreatedEvent(str(temp)), root)
    temp.replace(photo)
    changes.record(FileMovedEvent(str(temp), str(photo)), root)
    now[0] = 4.0
    batch = changes.take()
    assert batch.files == {str(photo)} and not batch.moves and not batch.deleted
