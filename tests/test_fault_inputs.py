"""Hostile and oversized inputs a person can hand photofind (issue 23 "Fault sweep" items 7-9,
issue 22's huge photos): each ends in a stored result or one clear line, never a traceback."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from photofind.cli import library_commands
from photofind.library.metadata import read_metadata

from conftest import make_photos, write_photo
from tinymodel import write_tiny_model

MAX_TEXT_CHARS = 64 * 1024  # the cap on one caption or tag (texts.MAX_TEXT_CHARS)
BIG = 10 * 1024 * 1024  # a 10 MB caption: what a runaway script or a pasted log leaves


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """The real ``photofind`` program, as a person runs it."""
    return subprocess.run([sys.executable, "-m", "photofind", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=300)


def one_clear_line(done: subprocess.CompletedProcess) -> str:
    """A failure's stderr: no traceback, and a line starting 'photofind:'."""
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("photofind:")]
    assert lines, done.stderr
    return lines[-1]


def model_args(spec, pretrained: str | None = None) -> list[str]:
    return ["--model", spec.name, "--model-config", spec.config,
            "--pretrained", pretrained or spec.pretrained]


# --- A: import-captions -------------------------------------------------------------------


def test_captions_csv_with_a_huge_field_imports_shortened_with_a_note(library, tmp_path):
    photos = make_photos(tmp_path / "lib", 2)
    library.index([tmp_path / "lib"])
    data_dir = library.data_dir
    library.close()
    table = tmp_path / "captions.csv"
    huge = "sunset over the lake " * 10_000  # 210,000 characters: over csv's 128 KB field limit
    with open(table, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "caption", "tags"])
        writer.writerow([str(photos[0]), huge, "lake;" + "x" * 100_000])
        writer.writerow([str(photos[1]), "a small boat", "boat"])
    done = cli(data_dir, "import-captions", str(table))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "for 2 photos" in done.stdout
    assert "shortened" in done.stderr and str(photos[0]) in done.stderr  # which photo, said once
    shown = json.loads(cli(data_dir, "show", "--json", str(photos[0])).stdout)
    texts = {text["kind"] + ":" + text["text"][:5]: text["text"] for text in shown["texts"]}
    assert len(texts["caption:sunse"]) == MAX_TEXT_CHARS and texts["tag:lake"] == "lake"
    assert len(texts["tag:xxxxx"]) == MAX_TEXT_CHARS


@pytest.mark.parametrize("what", ["missing", "folder"])
def test_unreadable_captions_file_is_one_clear_line(tmp_path, what):
    table = tmp_path / "captions.csv"
    if what == "folder":
        table.mkdir()
    line = one_clear_line(cli(tmp_path / "data", "import-captions", str(table)))
    reason = "No such file or directory" if what == "missing" else "Is a directory"
    assert line == f"photofind: cannot read captions file {table}: {reason}"


# --- B: huge sidecar texts ----------------------------------------------------------------

XMP = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""
 xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description><rdf:Alt>
 <rdf:li xml:lang="x-default">{caption}</rdf:li></rdf:Alt></dc:description>
</rdf:Description></rdf:RDF></x:xmpmeta>"""


def test_huge_sidecar_captions_are_stored_shortened(library, tmp_path):
    lib = tmp_path / "lib"
    photos = make_photos(lib, 2)
    photos[0].with_suffix(".txt").write_text("a red kite " * (BIG // 11), encoding="utf-8")
    photos[1].with_suffix(".xmp").write_text(XMP.format(caption="blue sea " * (BIG // 9)),
                                             encoding="utf-8")
    meta = read_metadata(photos[0])
    assert len(meta.texts[0].text) == MAX_TEXT_CHARS and meta.texts[0].text.startswith("a red")
    assert any("shortened" in warning for warning in meta.warnings)
    report = library.index([lib])
    assert report.added == 2 and report.errors == 0
    for photo, start in zip(photos, ["a red kite", "blue sea"]):
        caption = library.photo_details(photo)["texts"][0]["text"]
        assert caption.startswith(start) and len(caption) == MAX_TEXT_CHARS
    library.close()
    assert (library.data_dir / "catalog.sqlite3").stat().st_size < 4 * 1024 * 1024


# --- C: model files that are not what they claim -------------------------------------------


@pytest.fixture(scope="module")
def bad_weights(tmp_path_factory, tiny_model):
    """Files a person may pass as --pretrained, each wrong in its own way."""
    folder = tmp_path_factory.mktemp("bad-weights")
    (folder / "garbage.safetensors").write_bytes(os.urandom(64 * 1024))
    good = Path(tiny_model.pretrained).read_bytes()
    (folder / "truncated.safetensors").write_bytes(good[: len(good) // 2])
    (folder / "random.pt").write_bytes(os.urandom(64 * 1024))
    # the same tiny model with a wider text tower: another architecture, same kind of keys
    config = json.loads(Path(tiny_model.config).read_text())
    config["text_cfg"] = {**config["text_cfg"], "width": 64, "heads": 4}
    other_config, _ = write_tiny_model(folder / "wide", config, name="tiny-wide")
    return folder, other_config


@pytest.mark.parametrize("case, words", [
    ("garbage.safetensors", ["not a valid safetensors file"]),
    ("truncated.safetensors", ["not a valid safetensors file"]),
    ("random.pt", ["not a model checkpoint"]),
    ("other-architecture", ["do not fit", "another architecture"]),
    ("unknown-name", ["Unknown model", "NoSuchNet-B-99", "ViT-B-32"]),
])
def test_wrong_model_files_are_named_for_what_they_are(tmp_path, tiny_model, bad_weights, case,
                                                       words):
    folder, other_config = bad_weights
    make_photos(tmp_path / "lib", 1)
    if case == "other-architecture":  # tiny-vit's weights under the wider tiny model
        args = ["--model", "tiny-wide", "--model-config", str(other_config),
                "--pretrained", tiny_model.pretrained]
    elif case == "unknown-name":
        args = ["--model", "NoSuchNet-B-99", "--pretrained", tiny_model.pretrained]
    else:
        args = model_args(tiny_model, str(folder / case))
    line = one_clear_line(cli(tmp_path / "data", *args, "index", str(tmp_path / "lib")))
    for word in words:
        assert word in line
    assert "pickled code" not in line and len(line) < 600


# --- D: huge photos decode within a memory budget ------------------------------------------


def huge_jpeg(path: Path, size: tuple[int, int], seed: int) -> Path:
    """A real JPEG of `size`, made cheaply: a few flat shapes, low quality."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", size, tuple(int(c) for c in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = (int(rng.integers(0, side - 10)) for side in size)
        w, h = (int(rng.integers(side // 8, side // 2)) for side in size)
        draw.rectangle([x, y, x + w, y + h], fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    image.save(path, "JPEG", quality=40)
    return path


def test_huge_jpegs_are_indexed_and_findable(tmp_path, tiny_model):
    lib = tmp_path / "lib"
    lib.mkdir()
    square = huge_jpeg(lib / "medium-format.jpg", (12000, 12000), 1)  # 144 MP
    panorama = huge_jpeg(lib / "panorama.jpg", (30000, 8000), 2)  # 240 MP
    write_photo(lib / "small.jpg", 3)
    done = cli(tmp_path / "data", *model_args(tiny_model), "index", str(lib))
    assert done.returncode == 0, done.stderr
    assert "3 new" in done.stdout and "0 unreadable" in done.stdout, done.stdout
    found = cli(tmp_path / "data", "search", "--json", "a wide landscape")
    assert found.returncode == 0, found.stderr
    assert {str(square), str(panorama)} <= {hit["path"] for hit in json.loads(found.stdout)}
    shown = json.loads(cli(tmp_path / "data", "show", "--json", str(panorama)).stdout)
    assert (shown["width"], shown["height"], shown["error"]) == (30000, 8000, None)


def test_the_refusal_states_the_real_limit_and_size(tmp_path):
    from photofind.library.decode import PhotoError, open_photo

    png_bomb(tmp_path / "bomb.png")
    with pytest.raises(PhotoError) as refused:
        open_photo(tmp_path / "bomb.png")
    assert str(refused.value) == ("too large to decode within the memory budget: "
                                  "60000×60000 = 3,600 M pixels (limit 250 M)")


def png_bomb(path: Path, side: int = 60000) -> None:
    """A real PNG whose header claims side×side pixels (3.6 gigapixels) in a few bytes."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
                     chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


# --- E: small ones -------------------------------------------------------------------------


def test_a_folder_vanishing_mid_index_is_one_line(tmp_path, tiny_model, capsys):
    from photofind.services.library import PhotoLibrary

    make_photos(tmp_path / "lib" / "keep", 2)
    gone = tmp_path / "lib" / "trip"
    make_photos(gone, 40, start=2)
    library = PhotoLibrary(tmp_path / "data", model=tiny_model, workers=0)  # decodes in order

    class FolderVanishes:
        """The real library, whose folder "trip" is deleted once the first photo is read."""

        def index(self, targets, progress=None, retry=False):
            def vanish(done, total, path):
                shutil.rmtree(gone, ignore_errors=True)
                progress(done, total, path)
            return library.index(targets, progress=vanish, retry=retry)

    try:
        status = library_commands.cmd_index(FolderVanishes(), Namespace(paths=[tmp_path / "lib"]))
    finally:
        library.close()
    printed = capsys.readouterr().out
    assert status == 0
    skipped = [line for line in printed.splitlines() if line.startswith("  skipped")]
    assert len(skipped) == 1, printed
    assert str(gone) in skipped[0] and "folder disappeared" in skipped[0], printed
    assert re.search(r"\b(39|40) photos", skipped[0]), skipped[0]  # what it took along


def test_a_query_starting_with_a_dash(library, tmp_path):
    make_photos(tmp_path / "lib", 3)
    library.index([tmp_path / "lib"])
    data_dir = library.data_dir
    library.close()
    helped = cli(data_dir, "search", "--help")
    assert "-- -dog" in " ".join(helped.stdout.split()), helped.stdout
    for args in (["--", "-dog"], ["-dog"], ["--json", "-dog"]):
        done = cli(data_dir, "search", *args)
        assert done.returncode == 0, (args, done.stderr)
        assert "photo-0000.jpg" in done.stdout
