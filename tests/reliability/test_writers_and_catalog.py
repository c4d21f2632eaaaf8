"""One writer at a time, a catalog that heals, and a data dir that is not what it should be:
real processes on real files, as issue "Never lose a photo, whatever happens" probed them."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from photofind.index.hnsw import stamp_path
from photofind.library.catalog import Catalog, backups
from photofind.services.library import PhotoLibrary
from photofind.services.writer import WriterLock

import probes
from conftest import make_photos
from probes import clean, cli, cli_env, model_args, photos_saved, wait_for

onnx_cache, small_disk = probes.onnx_cache, probes.small_disk  # fixtures


def index_file_ids(data_dir) -> set[int]:
    """The photo ids the search index on disk holds (its stamp's live list), read without
    opening a library (which would repair it)."""
    stamps = [p for p in (data_dir / "index").glob("*.json")]
    assert len(stamps) == 1, stamps
    assert stamp_path(stamps[0].with_suffix(".hnsw")) == stamps[0]
    return set(json.loads(stamps[0].read_text())["live"])


def catalog_ids(data_dir) -> set[int]:
    with sqlite3.connect(f"file:{data_dir / 'catalog.sqlite3'}?mode=ro", uri=True) as db:
        return {r[0] for r in db.execute("SELECT photo_id FROM embeddings")}


def test_two_writers_take_turns_and_every_photo_stays_findable(tmp_path, tiny_model,
                                                               onnx_cache):
    """Two `photofind index` processes started while a third writer (this test) holds the
    library: both say who holds it and wait, then take turns, and the index file ends up
    with every photo of both. (Starting the second while the first was under way raced: on
    a fast machine the first was done before the second had imported photofind.)"""
    make_photos(tmp_path / "big", 300)
    make_photos(tmp_path / "small", 40, start=300)
    data, env = tmp_path / "data", cli_env(onnx_cache)
    first = cli(data, *model_args(tiny_model), "index", str(tmp_path / "big" / "photo-0000.jpg"),
                env=env)
    assert first.returncode == 0, first.stderr
    command = [sys.executable, "-m", "photofind", "--data-dir", str(data), "--workers", "1",
               "index"]
    waiting = f"another photofind is updating this library (pid {os.getpid()}: probing); waiting"
    writers = []
    with WriterLock(data).hold("probing"):
        for folder in ("big", "small"):
            err = tmp_path / f"{folder}.err"
            with err.open("w") as sink:
                writers.append((subprocess.Popen([*command, str(tmp_path / folder)], env=env,
                                                 text=True, stdout=subprocess.DEVNULL,
                                                 stderr=sink), err))
            assert wait_for(lambda e=err: waiting in e.read_text(), 60), err.read_text()
        assert photos_saved(data) == 1  # neither wrote while the library was held
    for writer, err in writers:
        writer.communicate(timeout=300)
        assert writer.returncode == 0, err.read_text()
        assert "Traceback" not in err.read_text()
    # before: the last writer's index file lacked the other's photos (29 of 272 in a probe)
    assert index_file_ids(data) == catalog_ids(data) and len(catalog_ids(data)) == 340
    lib = PhotoLibrary(data, workers=0)
    assert len(lib.search("a photo", k=400)) == 340
    lib.close()


def test_an_open_library_takes_in_what_another_process_indexed(tmp_path, tiny_model,
                                                               onnx_cache):
    """The app open (its search index in memory) while `photofind index` runs in a terminal:
    the app's next write job starts from the other's photos too, so the index file it saves
    drops none of them and its own searches find them."""
    for folder, start in (("app", 0), ("terminal", 20), ("later", 40)):
        make_photos(tmp_path / folder, 20, start=start)
    data = tmp_path / "data"
    app = PhotoLibrary(data, model=tiny_model, workers=1)
    try:
        app.index([tmp_path / "app"])
        assert len(app.search("a photo", k=100)) == 20  # the app's index is in memory
        done = cli(data, "index", str(tmp_path / "terminal"), env=cli_env(onnx_cache))
        assert done.returncode == 0, done.stderr
        app.index([tmp_path / "later"])
        assert index_file_ids(data) == catalog_ids(data) and len(catalog_ids(data)) == 60
        assert len(app.search("a photo", k=100)) == 60
    finally:
        app.close()


def test_a_damaged_catalog_is_restored_from_its_backup(tmp_path, tiny_model, onnx_cache):
    make_photos(tmp_path / "photos", 20)
    data, env = tmp_path / "data", cli_env(onnx_cache)
    done = cli(data, *model_args(tiny_model), "index", str(tmp_path / "photos"), env=env)
    assert done.returncode == 0, done.stderr
    assert len(backups.backups(data / "backups")) == 1  # the first write job backs up
    make_photos(tmp_path / "photos", 5, start=20)  # added after the backup
    done = cli(data, "index", str(tmp_path / "photos"), env=env)
    assert "5 new" in done.stdout and len(backups.backups(data / "backups")) == 1  # < 1 hour
    garbage = os.urandom((data / "catalog.sqlite3").stat().st_size)
    (data / "catalog.sqlite3").write_bytes(garbage)
    healed = cli(data, "index", str(tmp_path / "photos"), env=env)
    clean(healed)
    assert healed.returncode == 0, healed.stderr
    assert "catalog was damaged" in healed.stderr and "restored" in healed.stderr
    # only the photos added after the backup are embedded again
    assert "5 new" in healed.stdout and "20 unchanged" in healed.stdout, healed.stdout
    aside = list(data.glob("catalog.damaged-*.sqlite3"))
    assert len(aside) == 1 and aside[0].read_bytes() == garbage  # kept, never deleted
    found = cli(data, "search", "a photo", "-k", "30", "--json", env=env)
    assert found.returncode == 0 and len(json.loads(found.stdout)) == 25


def test_a_damaged_catalog_without_backup_starts_afresh_and_says_so(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "catalog.sqlite3").write_bytes(b"not a database at all" * 100)
    done = cli(data, "status")
    clean(done)
    assert done.returncode == 0 and "no good backup" in done.stderr, done.stderr
    assert len(list(data.glob("catalog.damaged-*.sqlite3"))) == 1


def test_backups_are_checked_and_only_the_newest_three_kept(tmp_path):
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    catalog.set_meta("note", "kept")
    made = [backups.back_up(catalog, tmp_path / "backups") for _ in range(5)]
    assert backups.backups(tmp_path / "backups") == sorted(made, reverse=True)[:3]
    assert backups.check(made[-1]) is None
    assert Catalog(made[-1]).get_meta("note") == "kept"
    (tmp_path / "bad.sqlite3").write_bytes(made[-1].read_bytes()[:4096])  # truncated
    assert backups.check(tmp_path / "bad.sqlite3") is not None
    catalog.close()


def test_a_data_dir_that_is_a_file_is_named(tmp_path):
    (tmp_path / "data").write_text("a file")
    done = cli(tmp_path / "data", "status")
    clean(done)
    assert done.returncode == 1 and "is a file, not a folder" in done.stderr


def test_a_catalog_from_a_newer_photofind_is_named(tmp_path):
    catalog = Catalog(tmp_path / "data" / "catalog.sqlite3")
    catalog.set_meta("schema_version", "99")
    catalog.close()
    done = cli(tmp_path / "data", "search", "dog")
    clean(done)
    assert done.returncode == 1 and "newer photofind" in done.stderr


def test_a_read_only_library_searches_and_says_why_it_cannot_change(tmp_path, tiny_model,
                                                                    onnx_cache, small_disk):
    make_photos(tmp_path / "photos", 12)
    data, env = small_disk / "data", cli_env(onnx_cache)
    done = cli(data, *model_args(tiny_model), "index", str(tmp_path / "photos"), env=env)
    assert done.returncode == 0, done.stderr
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    found = cli(data, "search", "a photo", "-k", "5", "--json", env=env)
    clean(found)
    assert found.returncode == 0 and len(json.loads(found.stdout)) == 5
    status = cli(data, "status", env=env)
    assert status.returncode == 0 and "12 indexed" in status.stdout
    refused = cli(data, "index", str(tmp_path / "photos"), env=env)
    clean(refused)
    assert refused.returncode == 1 and "cannot write" in refused.stderr, refused.stderr
    forget = cli(data, "forget", str(tmp_path / "photos"), env=env)
    clean(forget)
    assert forget.returncode == 1 and "cannot write" in forget.stderr


@pytest.mark.parametrize("command", ["index", "forget"])
def test_writing_commands_wait_for_the_writer_and_searches_do_not(tmp_path, tiny_model,
                                                                  command):
    from photofind.services.writer import WriterLock

    make_photos(tmp_path / "photos", 3)
    lib = PhotoLibrary(tmp_path / "data", model=tiny_model, workers=0)
    lib.index([tmp_path / "photos"])
    lib.close()
    lock = WriterLock(tmp_path / "data")
    with lock.hold("testing"):
        found = cli(tmp_path / "data", "search", "a photo", "--json")
        assert found.returncode == 0 and len(json.loads(found.stdout)) == 3
        waiting = subprocess.Popen(
            [sys.executable, "-m", "photofind", "--data-dir", str(tmp_path / "data"), command,
             str(tmp_path / "photos")], text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(8)  # blocked on the lock this test holds
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert f"(pid {os.getpid()}: testing); waiting" in err


def test_a_catalog_damaged_inside_is_restored_at_the_next_start(tmp_path, tiny_model,
                                                                onnx_cache):
    make_photos(tmp_path / "photos", 40)
    data, env = tmp_path / "data", cli_env(onnx_cache)
    assert cli(data, *model_args(tiny_model), "index", str(tmp_path / "photos"),
               env=env).returncode == 0
    with open(data / "catalog.sqlite3", "r+b") as handle:  # pages in the middle, header intact
        handle.seek(3 * 4096)
        handle.write(os.urandom(20 * 4096))
    first = cli(data, "status", env=env)
    clean(first)
    assert first.returncode == 1 and "catalog is damaged" in first.stderr, first.stderr
    second = cli(data, "search", "a photo", "-k", "50", "--json", env=env)
    clean(second)
    assert second.returncode == 0 and "backup" in second.stderr and "restored" in second.stderr
    assert len(json.loads(second.stdout)) == 40
    assert backups.check(data / "catalog.sqlite3") is None
