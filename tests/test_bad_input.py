"""Every file is indexed or recorded with a reason; odd images decode correctly."""

from __future__ import annotations

import hashlib
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from photofind.library.decode import PhotoError, PrepSpec, open_photo, prepare_photo
from photofind.library.scan import scan

from conftest import make_photos, shared_data, write_photo


def checksums(folder):
    return {p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_exif_sample_is_indexed_or_explained(library):
    samples = shared_data("exif-samples")
    before = checksums(samples)
    report = library.index([samples])
    photos = [p for p in samples.rglob("*") if p.is_file() and
              p.suffix.lower() in {".jpg", ".jpeg", ".tiff", ".heic", ".heif"}]
    rows = {row.path: row for row in library.catalog.photos()}
    assert {str(p) for p in photos} <= set(rows)
    for row in rows.values():
        assert row.error is None or len(row.error) > 10
    assert report.added + report.errors == len(rows)
    heic = [r for p, r in rows.items() if p.lower().endswith((".heic", ".heif"))]
    assert heic and all(r.error is None for r in heic)
    assert checksums(samples) == before  # read-only: bytes and mtimes untouched


def png_bomb(path, side=60000):
    """A real PNG whose header claims side×side pixels (3.6 gigapixels) in a few bytes."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
                     chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


def test_bomb_empty_truncated_and_fake_files_are_reported(library, tmp_path):
    folder = tmp_path / "bad"
    good = make_photos(folder, 1)[0]
    png_bomb(folder / "bomb.png")
    (folder / "empty.jpg").write_bytes(b"")
    data = good.read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "notes.jpg").write_text("this is not a photo")
    report = library.index([folder])
    reasons = {os.path.basename(p): why for p, why in report.problems}
    assert reasons["bomb.png"] == ("too large to decode within the memory budget: "
                                  "60000×60000 = 3,600 M pixels (limit 250 M)")
    assert "empty" in reasons["empty.jpg"]
    assert "truncated" in reasons["truncated.jpg"]
    assert "not a supported image" in reasons["notes.jpg"]
    assert report.added == 1 and report.errors == 4
    assert dict(library.catalog.errors()).keys() == {str(folder / n) for n in reasons}
    again = library.index([folder])  # errors are remembered, not retried every time
    assert again.unchanged == 5 and again.errors == 0


@pytest.mark.parametrize("mode", ["CMYK", "I;16", "P", "RGBA", "LA", "L"])
def test_modes_convert_to_rgb(tmp_path, mode):
    source = Image.open(write_photo(tmp_path / "source.jpg", 0)).convert("RGB")
    if mode == "I;16":
        grey = np.asarray(source.convert("L"), np.uint16) * 257
        image = Image.fromarray(grey)  # uint16 → mode I;16
        path = tmp_path / "deep.png"
    elif mode == "P":
        image = source.convert("P", palette=Image.Palette.ADAPTIVE)
        image.info["transparency"] = 0
        path = tmp_path / "palette.png"
    else:
        image = source.convert(mode)
        path = tmp_path / ("photo.tif" if mode == "CMYK" else "photo.png")
    image.save(path)
    rgb = open_photo(path)
    assert rgb.mode == "RGB" and rgb.size == source.size
    reference = np.asarray(source.convert("L"), np.float32)
    got = np.asarray(rgb.convert("L"), np.float32)
    if mode != "P":  # a 16-bit grey photo must not turn white, CMYK must not invert
        assert abs(got.mean() - reference.mean()) < 8


def test_transparent_pixels_become_white(tmp_path):
    image = Image.new("RGBA", (40, 40), (255, 0, 0, 0))
    image.save(tmp_path / "clear.png")
    assert open_photo(tmp_path / "clear.png").getpixel((5, 5)) == (255, 255, 255)


def test_orientation_is_applied():
    folder = shared_data("exif-samples") / "jpg" / "orientation"
    sizes = {}
    for path in sorted(folder.glob("*.jpg")):
        raw = Image.open(path)
        orientation = raw.getexif().get(0x0112, 1)
        upright = open_photo(path)
        expected = raw.size[::-1] if orientation in (5, 6, 7, 8) else raw.size
        assert upright.size == expected
        sizes[orientation] = upright.size
    assert len(sizes) == 8 and len(set(sizes.values())) == 1  # all 8 end up the same way up


def test_big_jpeg_is_drafted_not_fully_decoded(tmp_path):
    big = Image.open(write_photo(tmp_path / "source.jpg", 0)).resize((4000, 3000))
    big.save(tmp_path / "big.jpg", quality=85)
    drafted = open_photo(tmp_path / "big.jpg", draft_size=224)
    assert 224 <= min(drafted.size) < 600  # 1/8 DCT scaling, not 4000×3000
    prepared = prepare_photo(bytes(tmp_path / "big.jpg"), PrepSpec(size=224))
    assert prepared.array.shape == (3, 224, 224) and (prepared.width, prepared.height) == (4000, 3000)


def test_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (32, 32), c) for c in ("blue", "red")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    assert open_photo(tmp_path / "anim.gif").getpixel((1, 1))[2] > 200


def test_scan_survives_loops_hidden_links_and_odd_names(tmp_path):
    root = tmp_path / "root"
    photos = make_photos(root / "a", 2)
    os.symlink(root, root / "a" / "loop")  # a folder link back to the root
    make_photos(root / ".hidden", 1)
    os.symlink(tmp_path / "nowhere.jpg", root / "dangling.jpg")
    odd = os.fsencode(str(root)) + b"/caf\xe9-latin1.jpg"  # not valid UTF-8
    with open(odd, "wb") as handle:
        handle.write(photos[0].read_bytes())
    result = scan(root)
    names = sorted(os.path.basename(f.raw_path) for f in result.files)
    assert names == sorted([b"caf\xe9-latin1.jpg"] + [os.fsencode(p.name) for p in photos])
    assert len(result.problems) == 1 and b"dangling" in result.problems[0][0]


def test_non_utf8_names_index_and_search(library, tmp_path):
    root = tmp_path / "odd"
    root.mkdir()
    source = make_photos(tmp_path / "src", 1)[0]
    odd = os.fsencode(str(root)) + b"/f\xf6\xf6.jpg"
    with open(odd, "wb") as handle:
        handle.write(source.read_bytes())
    report = library.index([root])
    assert report.added == 1
    row = library.catalog.photos()[0]
    assert row.raw_path == odd and "\\xf6" in row.path
    assert library.index([root]).unchanged == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder: permissions can't fail")
def test_unreadable_folder_is_reported(tmp_path):
    locked = tmp_path / "locked"
    make_photos(locked, 1)
    locked.chmod(0)
    try:
        result = scan(tmp_path)
        assert result.problems and "cannot read folder" in result.problems[0][1]
    finally:
        locked.chmod(0o755)


def test_photo_error_message_for_missing_file(tmp_path):
    with pytest.raises(PhotoError):
        open_photo(b"")
