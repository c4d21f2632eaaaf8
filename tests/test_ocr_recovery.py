"""The text-in-photos pass when things go wrong, and quoted phrases in combined queries: a
reader process killed mid-photo, a folder whose drive is unplugged, a file gone mid-pass, a
photo changed while reading is off; phrases excluded with '-', kept above a minimum score,
and never shown as "Match 0". Real JPEGs with drawn words, real OCR models, a real catalog."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from pathlib import Path

import pytest

from photofind.library.catalog import Catalog
from photofind.ocr.reader import ENGINE
from photofind.search.relevance import WORDS_MATCH, relevances
from photofind.services.library import PhotoLibrary
from photofind.services.reading import CRASHED

from conftest import wait_for, watch_command_while, write_photo
from conftest import write_sign as sign

pytestmark = pytest.mark.skipif(
    __import__("importlib").util.find_spec("rapidocr") is None,
    reason="rapidocr is not installed (pip install -e .[test] installs it)")

WORDS = ["HARBOUR", "BAKERY", "MUSEUM", "GARDEN", "STATION", "LIBRARY"]


def signs(folder: Path, words=WORDS, start: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [sign(folder / f"{word.lower()}.jpg", word, start + i)
            for i, word in enumerate(words)]


def stored(data_dir: Path) -> dict[str, dict | None]:
    """Each photo's file name → its stored reading (None: never read)."""
    catalog = Catalog(data_dir / "catalog.sqlite3")
    try:
        return {Path(row.path).name: catalog.reading(row.id) for row in catalog.photos()}
    finally:
        catalog.close()


def to_read(data_dir: Path) -> int:
    catalog = Catalog(data_dir / "catalog.sqlite3")
    try:
        return catalog.count_to_read(ENGINE)
    finally:
        catalog.close()


def text_of(reading: dict) -> str:
    return " ".join(line["text"] for line in reading["lines"])


def test_a_photo_that_kills_the_reader_is_marked_and_the_rest_are_read(tmp_path, tiny_model):
    signs(tmp_path / "photos")
    lib = PhotoLibrary(tmp_path / "data", model=tiny_model, workers=0)
    killed = []

    def kill_reader_after_two(done, total, path):
        if done == 2 and not killed:  # the third photo goes to a reader that is gone
            reader, = [p for p in multiprocessing.active_children()
                       if p.name == "photofind-text-reader"]
            os.kill(reader.pid, signal.SIGKILL)
            reader.join(10)
            killed.append(reader.pid)

    try:
        lib.index([tmp_path / "photos"])
        report = lib.read_texts(progress=kill_reader_after_two)
    finally:
        lib.close()
    assert killed and report.skipped is None and not report.cancelled
    assert (report.read, report.failed) == (6, 1), report
    (path, reason), = report.problems
    assert reason == CRASHED
    readings = stored(tmp_path / "data")
    assert readings[Path(path).name]["error"] == CRASHED
    for name, reading in readings.items():  # a new reader read every other photo
        if name != Path(path).name:
            assert text_of(reading) == name.removesuffix(".jpg").upper()
    assert to_read(tmp_path / "data") == 0


def test_an_unplugged_folder_waits_and_a_vanished_file_is_not_recorded(tmp_path, tiny_model):
    home, drive = signs(tmp_path / "home", WORDS[:3]), signs(tmp_path / "drive", WORDS[3:], 3)
    data = tmp_path / "data"
    lib = PhotoLibrary(data, model=tiny_model, workers=0)
    try:
        lib.index([tmp_path / "home", tmp_path / "drive"])
        catalog = Catalog(data / "catalog.sqlite3")
        try:  # what the watcher records when the drive goes away
            catalog.set_root_online(catalog.root_for(drive[0]), False)
        finally:
            catalog.close()
        home[0].unlink()  # and a file deleted after it was indexed
        report = lib.read_texts()
        assert (report.read, report.failed, report.problems) == (2, 0, []), report
        readings = stored(data)
        assert readings[home[0].name] is None  # not stored as "unreadable": due again
        assert all(readings[p.name] is None for p in drive)
        assert to_read(data) == 1  # the vanished file; the drive's photos wait for it
        assert lib.read_texts().read == 0
        catalog = Catalog(data / "catalog.sqlite3")
        try:
            catalog.set_root_online(catalog.root_for(drive[0]), True)
        finally:
            catalog.close()
        assert lib.read_texts().read == 3
        assert [text_of(stored(data)[p.name]) for p in drive] == WORDS[3:]
    finally:
        lib.close()


def test_words_of_a_changed_photo_are_not_found_until_it_is_read_again(tmp_path, tiny_model):
    (tmp_path / "photos").mkdir()
    photo = sign(tmp_path / "photos" / "shop.jpg", "HARBOUR", 1)
    write_photo(tmp_path / "photos" / "other.jpg", 2)
    lib = PhotoLibrary(tmp_path / "data", model=tiny_model, workers=0)
    try:
        lib.index([tmp_path / "photos"])
        lib.read_texts()
        assert [Path(r.path).name for r in lib.search('"harbour"')] == ["shop.jpg"]
        sign(photo, "BAKERY", 1, size=52)  # repainted; reading is off at this index
        os.utime(photo, (1_700_000_000, 1_700_000_000))
        lib.index([tmp_path / "photos"])
        assert lib.search('"harbour"') == []  # the old words no longer find it
        assert lib.read_texts().read == 1
        assert [Path(r.path).name for r in lib.search('"bakery"')] == ["shop.jpg"]
    finally:
        lib.close()


def test_phrases_exclude_with_minus_and_survive_a_minimum_score(tmp_path, tiny_model):
    photos = tmp_path / "photos"
    photos.mkdir()
    sign(photos / "closed.jpg", "NO ENTRY", 1)
    sign(photos / "open.jpg", "OPEN DAILY", 2)
    for i in range(6):
        write_photo(photos / f"plain{i}.jpg", 10 + i)
    lib = PhotoLibrary(tmp_path / "data", model=tiny_model, workers=0)
    try:
        lib.index([photos])
        lib.read_texts()

        def found(query, **kw):
            return [Path(r.path).name for r in lib.search(query, k=20, **kw)]

        everything = found("sign")
        assert "closed.jpg" in everything and len(everything) == 8
        without = found('sign - "no entry"')
        assert "closed.jpg" not in without and len(without) == 7  # excluded, not required
        assert found('"no entry"') == ["closed.jpg"]
        assert found('sign + "open daily"') == ["open.jpg"]  # a phrase in a + term: required
        assert found('"open daily"', min_score=0.99) == ["open.jpg"]  # the words matched
        result, = lib.search('"open daily"')
        assert result.text_match and result.relevance >= WORDS_MATCH
    finally:
        lib.close()


def test_relevance_of_a_words_match_has_a_floor_and_still_follows_the_order():
    cosines = [0.02, 0.40, 0.20, 0.01]  # fused order: a caption match first, cosine 0.02
    assert relevances(cosines) == [100, 100, 50, 0]
    assert relevances(cosines, [True, False, False, False]) == [100, 100, 50, 0]
    assert relevances([0.02, 0.10, 0.0], [True, False, True]) == [WORDS_MATCH] * 3
    assert relevances([0.0, 0.10], [False, False]) == [17, 17]
    assert relevances([None, 0.0], [True, True]) == [None, WORDS_MATCH]


def test_the_watch_command_reads_the_text_in_new_photos(tmp_path, tiny_model, capsys,
                                                        monkeypatch):
    monkeypatch.setenv("PHOTOFIND_READ_TEXT", "1")
    signs(tmp_path / "lib", ["HARBOUR"])
    printed = sys.stdout.getvalue  # captured by capsys; readable while main() runs

    def user():  # another thread: wait for the catch-up, add a sign (then Ctrl+C)
        wait_for(lambda: "text read in 1 photos" in printed(), 120, "the first reading")
        sign(tmp_path / "lib" / "later.jpg", "BAKERY", 5)
        wait_for(lambda: printed().count("text read in 1 photos") == 2, 120,
                 "the new photo's reading")

    code = watch_command_while(user, tmp_path / "data", tiny_model, tmp_path / "lib")
    out = capsys.readouterr().out
    assert code == 0 and out.count("text read in 1 photos: 1 with text") == 2, out
    assert [text_of(stored(tmp_path / "data")[name]) for name in ("harbour.jpg", "later.jpg")] \
        == ["HARBOUR", "BAKERY"]
