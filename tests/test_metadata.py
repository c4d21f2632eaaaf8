"""Tests for photofind.library.metadata on real files: committed fixtures made by
tests/fixtures/metadata/make_fixtures.sh, files written here with Pillow, and the shared
exif-samples collection of real camera files."""

import hashlib
import json
import shutil
import struct
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from photofind.library.metadata import (
    PhotoMetadata,
    TextItem,
    is_junk,
    read_captions_csv,
    read_metadata,
    sidecar_paths,
)

from conftest import SHARED_DATA, needs_shared, shared_data

FIXTURES = Path(__file__).parent / "fixtures" / "metadata"
SAMPLES = SHARED_DATA / "exif-samples"  # a path only: the tests below are needs_samples
needs_samples = needs_shared("exif-samples")

EXIF_IFD, GPS_IFD = 0x8769, 0x8825
DESCRIPTION, MAKE, MODEL, DATETIME = 0x010E, 0x010F, 0x0110, 0x0132
XP_TITLE, XP_COMMENT, XP_KEYWORDS = 0x9C9B, 0x9C9C, 0x9C9E
DATETIME_ORIGINAL, USER_COMMENT = 0x9003, 0x9286


def rows(meta: PhotoMetadata) -> list[tuple]:
    """The texts as comparable tuples (file checked separately)."""
    return [(t.kind, t.text, t.source, t.hierarchy) for t in meta.texts]


def copy_fixture(name: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / name, dest)
    return dest


def write_jpeg(path: Path, exif: Image.Exif | bytes | None = None, **save_args) -> Path:
    """A small JPEG with the given EXIF, written by Pillow."""
    if exif is not None:
        save_args["exif"] = exif
    Image.new("RGB", (16, 12), "teal").save(path, "JPEG", **save_args)
    return path


def make_exif(ifd0: dict | None = None, exif_ifd: dict | None = None) -> Image.Exif:
    exif = Image.Exif()
    for tag, value in (ifd0 or {}).items():
        exif[tag] = value
    for tag, value in (exif_ifd or {}).items():
        exif.get_ifd(EXIF_IFD)[tag] = value
    return exif


# --- one fixture per source -----------------------------------------------------------------


def test_embedded_xmp():
    photo = FIXTURES / "xmp_embedded.jpg"
    meta = read_metadata(photo)
    assert rows(meta) == [
        ("caption", "桜の下で 🐶", "xmp:dc:description", ()),
        ("title", "Crème brûlée", "xmp:dc:title", ()),
        ("title", "Picnic in the park", "xmp:photoshop:Headline", ()),
        ("tag", "beach", "xmp:dc:subject", ()),
        ("tag", "sunset", "xmp:dc:subject", ()),
        ("tag", "Kyoto", "xmp:lr:hierarchicalSubject", ("Places", "Japan", "Kyoto")),
        ("tag", "Hanami", "xmp:digiKam:TagsList", ("Events", "Hanami")),
        # "Emma" is also a dc:subject keyword and a face region: kept once, as a person.
        ("person", "Emma", "xmp:lr:hierarchicalSubject", ("People", "Emma")),
        ("person", "Yuki", "xmp:digiKam:TagsList", ("People", "Yuki")),
        ("person", "Rex", "xmp:mwg-rs:Name", ()),  # a Pet region; the Focus region is not
    ]
    assert {t.file for t in meta.texts} == {str(photo)}
    assert (meta.taken_at, meta.taken_at_source) == (
        "2019-03-30T14:00:00+09:00",
        "xmp:exif:DateTimeOriginal",
    )
    assert meta.warnings == [] and meta.sidecars == []


@pytest.mark.parametrize("name", ["photo.xmp", "photo.jpg.xmp"])
def test_xmp_sidecar(tmp_path, name):
    photo = copy_fixture("plain.jpg", tmp_path / "photo.jpg")
    sidecar = copy_fixture("sidecar.xmp", tmp_path / name)
    meta = read_metadata(photo)
    assert rows(meta) == [
        ("caption", "Birthday at grandma's, crème brûlée for dessert", "xmp:dc:description", ()),
        ("title", "Grandma's birthday", "xmp:photoshop:Headline", ()),
        ("tag", "birthday", "xmp:dc:subject", ()),
        ("tag", "cake", "xmp:dc:subject", ()),
        ("tag", "2018", "xmp:lr:hierarchicalSubject", ("Events", "2018")),
        ("tag", "Garden", "xmp:digiKam:TagsList", ("Places", "Garden")),
        ("person", "Oma", "xmp:lr:hierarchicalSubject", ("People", "Family", "Oma")),
        ("person", "Lukas", "xmp:digiKam:TagsList", ("People", "Lukas")),
        ("person", "Lena", "xmp:mwg-rs:Name", ()),
        ("person", "Jonas", "xmp:MPReg:PersonDisplayName", ()),
    ]
    assert {t.file for t in meta.texts} == {str(sidecar)}
    assert meta.sidecars == [str(sidecar)]
    assert (meta.taken_at, meta.taken_at_source) == (
        "2018-07-14T18:30:00+02:00",
        "xmp:exif:DateTimeOriginal",
    )


def test_iptc_declared_utf8():
    meta = read_metadata(FIXTURES / "iptc_utf8.jpg")
    assert rows(meta) == [
        ("caption", "Crème brûlée au café 🐶", "iptc:Caption-Abstract", ()),
        ("title", "Hanami", "iptc:Headline", ()),
        ("tag", "桜", "iptc:Keywords", ()),
        ("tag", "picnic", "iptc:Keywords", ()),
    ]


def test_iptc_latin1_without_charset_record():
    meta = read_metadata(FIXTURES / "iptc_latin1.jpg")
    assert rows(meta) == [
        ("caption", "Crème brûlée", "iptc:Caption-Abstract", ()),
        ("tag", "café", "iptc:Keywords", ()),
    ]


def test_exif_text_camera_date_and_gps():
    meta = read_metadata(FIXTURES / "exif_text.jpg")
    assert rows(meta) == [
        ("caption", "Crème brûlée", "exif:ImageDescription", ()),
        ("caption", "Dinner with Emma, café au lait", "exif:XPComment", ()),
        ("caption", "桜の下で 🐶", "exif:UserComment", ()),  # UNICODE, big-endian EXIF
        ("title", "Kyoto trip", "exif:XPTitle", ()),
        ("title", "Holiday", "exif:XPSubject", ()),
        ("tag", "beach", "exif:XPKeywords", ()),
        ("tag", "桜", "exif:XPKeywords", ()),
        ("tag", "dog", "exif:XPKeywords", ()),
    ]
    assert (meta.camera_make, meta.camera_model) == ("Canon", "Canon EOS 40D")
    assert (meta.taken_at, meta.taken_at_source) == (
        "2021-04-11T15:47:53+09:00",
        "exif:DateTimeOriginal",
    )
    assert meta.gps == pytest.approx((-33.8568, 151.2153), abs=1e-6)
    assert meta.warnings == []


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"ASCII\0\0\0Sunday walk\0\0\0", "Sunday walk"),
        (b"ASCII\0\0\0" + "Crème brûlée".encode(), "Crème brûlée"),  # "ASCII" holding UTF-8
        (b"ASCII\0\0\0" + "Crème brûlée".encode("latin-1"), "Crème brûlée"),
        (b"UNICODE\0" + "桜の下で 🐶".encode("utf-16-le"), "桜の下で 🐶"),
        (b"JIS\0\0\0\0\0" + "桜の下で".encode("shift_jis"), "桜の下で"),
        (b"\0" * 8 + "Crème".encode() + b"\0" * 20, "Crème"),  # undefined, NUL padded
        (b"no header at all", "no header at all"),
    ],
)
def test_user_comment_charsets(tmp_path, raw, text):
    photo = write_jpeg(tmp_path / "c.jpg", make_exif(exif_ifd={USER_COMMENT: raw}))
    assert rows(read_metadata(photo)) == [("caption", text, "exif:UserComment", ())]


def test_windows_xp_tags_with_emoji(tmp_path):
    def utf16(text: str) -> bytes:
        return text.encode("utf-16-le") + b"\0\0"

    exif = make_exif(
        {
            XP_TITLE: utf16("Walk 🐶"),
            XP_COMMENT: utf16("Crème brûlée"),
            XP_KEYWORDS: utf16("dog;🐶;"),
        }
    )
    meta = read_metadata(write_jpeg(tmp_path / "xp.jpg", exif))
    assert rows(meta) == [
        ("caption", "Crème brûlée", "exif:XPComment", ()),
        ("title", "Walk 🐶", "exif:XPTitle", ()),
        ("tag", "dog", "exif:XPKeywords", ()),
        ("tag", "🐶", "exif:XPKeywords", ()),
    ]


def test_png_text_chunks(tmp_path):
    info = PngInfo()
    info.add_text("Title", "Crème brûlée")
    info.add_itxt("Description", "桜の下で 🐶", lang="ja")
    info.add_text("Comment", "Sunday walk", zip=True)
    info.add_text("Software", "not a caption")
    photo = tmp_path / "p.png"
    Image.new("RGB", (16, 12)).save(photo, pnginfo=info)
    assert rows(read_metadata(photo)) == [
        ("caption", "桜の下で 🐶", "png:Description", ()),
        ("caption", "Sunday walk", "png:Comment", ()),
        ("title", "Crème brûlée", "png:Title", ()),
    ]


def test_jpeg_comment(tmp_path):
    photo = write_jpeg(tmp_path / "c.jpg", comment="Frank, the pumpkin")
    assert rows(read_metadata(photo)) == [("caption", "Frank, the pumpkin", "jpeg:comment", ())]


def takeout_json(**extra) -> str:
    data = {"title": "x.jpg", "description": "Crème brûlée 🐶", "people": [{"name": "Emma"}]}
    return json.dumps({**data, **extra})


LONG = "PXL_20230515_123456789_this_name_is_rather_long.jpg"  # 51 characters


@pytest.mark.parametrize(
    ("photo_name", "json_name"),
    [
        ("photo.jpg", "photo.jpg.json"),
        ("photo.jpg", "photo.jpg.supplemental-metadata.json"),
        (LONG, LONG[:46] + ".json"),
        (LONG, (LONG + ".supplemental-metadata")[:46] + ".json"),
        (LONG, (LONG + ".supplemental-metadata")[:47] + ".json"),
        ("photo(1).jpg", "photo.jpg(1).json"),
        ("photo-edited.jpg", "photo.jpg.json"),
    ],
)
def test_takeout_json_sidecar(tmp_path, photo_name, json_name):
    photo = copy_fixture("plain.jpg", tmp_path / photo_name)
    sidecar = tmp_path / json_name
    sidecar.write_text(takeout_json(photoTakenTime={"timestamp": "1617896873"}), encoding="utf-8")
    meta = read_metadata(photo)
    assert rows(meta) == [
        ("caption", "Crème brûlée 🐶", "takeout:description", ()),
        ("person", "Emma", "takeout:people", ()),
    ]
    assert {t.file for t in meta.texts} == {str(sidecar)}
    assert meta.sidecars == [str(sidecar)]
    assert (meta.taken_at, meta.taken_at_source) == (
        "2021-04-08T15:47:53+00:00",
        "takeout:photoTakenTime",
    )


def test_takeout_json_of_another_photo_is_ignored(tmp_path):
    photo = copy_fixture("plain.jpg", tmp_path / "photo.jpg")
    (tmp_path / "photo2.jpg.json").write_text(takeout_json(), encoding="utf-8")
    assert read_metadata(photo).texts == []


def test_txt_sidecar(tmp_path):
    photo = copy_fixture("plain.jpg", tmp_path / "photo.jpg")
    sidecar = tmp_path / "photo.txt"
    sidecar.write_text("Grandpa's 80th birthday 🎂\n", encoding="utf-8")
    meta = read_metadata(photo)
    assert meta.texts == [
        TextItem("caption", "Grandpa's 80th birthday 🎂", "txt-sidecar", str(sidecar))
    ]


def test_sidecar_paths_order_and_absence(tmp_path):
    photo = copy_fixture("plain.jpg", tmp_path / "photo.jpg")
    expected = ["photo.xmp", "photo.jpg.xmp", "photo.jpg.json", "photo.txt"]
    for name in [*reversed(expected), "other.xmp", "photo2.txt"]:
        (tmp_path / name).write_text("{}", encoding="utf-8")
    (tmp_path / "photo.jpg.supplemental-metadata.json").mkdir()  # not a file: ignored
    assert sidecar_paths(photo) == [tmp_path / name for name in expected]
    very_long = tmp_path / ("x" * 240 + ".jpg")  # sidecar names would exceed NAME_MAX
    assert sidecar_paths(very_long) == []


# --- dates, junk and de-duplication ---------------------------------------------------------


@pytest.mark.parametrize(
    ("ifd0", "exif_ifd", "expected", "source"),
    [
        ({DATETIME: "2020:05:06 07:08:09"}, {DATETIME_ORIGINAL: "0000:00:00 00:00:00"},
         "2020-05-06T07:08:09", "exif:DateTime"),
        ({DATETIME: "2020:05:06 07:08:09"}, {DATETIME_ORIGINAL: "    :  :     :  :  "},
         "2020-05-06T07:08:09", "exif:DateTime"),
        ({}, {DATETIME_ORIGINAL: "2020:05:06 07:08:09", 0x9011: "-05:00"},
         "2020-05-06T07:08:09-05:00", "exif:DateTimeOriginal"),
    ],
)  # fmt: skip
def test_exif_date_fallbacks(tmp_path, ifd0, exif_ifd, expected, source):
    meta = read_metadata(write_jpeg(tmp_path / "d.jpg", make_exif(ifd0, exif_ifd)))
    assert (meta.taken_at, meta.taken_at_source) == (expected, source)
    assert meta.warnings == []


def test_impossible_date_is_a_warning_and_mtime_is_last_resort(tmp_path):
    photo = write_jpeg(
        tmp_path / "d.jpg", make_exif(exif_ifd={DATETIME_ORIGINAL: "2011:13:45 99:00:00"})
    )
    meta = read_metadata(photo)
    assert meta.taken_at_source == "file-mtime"
    assert datetime.fromisoformat(meta.taken_at).tzinfo is not None
    assert any("exif:DateTimeOriginal" in w and "2011:13:45" in w for w in meta.warnings)


def test_is_junk():
    junk = ["OLYMPUS DIGITAL CAMERA", "SONY DSC", " DCIM ", "<default caption>", "Image",
            "KONICA MINOLTA DIGITAL CAMERA", "SANYO DIGITAL CAMERA", "Screenshot", "",
            " \x00\x00 ", "DSC01234.JPG", "a5cb01550dbb9a6bf732f87e413f6e231cc4581e"]  # fmt: skip
    for text in junk:
        assert is_junk(text), text
    assert is_junk("Canon EOS 40D", "Canon", "Canon EOS 40D")
    assert is_junk("canon", "Canon", "EOS 40D")
    for text in ["Screenshot of the invoice", "🐶", "2018", "Emma", "Canon museum visit"]:
        assert not is_junk(text, "Canon", "Canon EOS 40D"), text


def test_camera_junk_is_dropped_and_camera_strings_cleaned(tmp_path):
    exif = make_exif(
        {
            DESCRIPTION: "OLYMPUS DIGITAL CAMERA         ",
            MAKE: "OLYMPUS IMAGING CORP.  \0\0",
            MODEL: "E-P3\0  ",
            XP_TITLE: "E-P3".encode("utf-16-le"),
        },
        {USER_COMMENT: b"ASCII\0\0\0" + b" " * 30},
    )
    meta = read_metadata(write_jpeg(tmp_path / "j.jpg", exif))
    assert meta.texts == []
    assert (meta.camera_make, meta.camera_model) == ("OLYMPUS IMAGING CORP.", "E-P3")


def test_duplicates_keep_first_provenance(tmp_path):
    photo = copy_fixture("iptc_utf8.jpg", tmp_path / "photo.jpg")
    (tmp_path / "photo.txt").write_text("crème brûlée au café 🐶", encoding="utf-8")
    (tmp_path / "photo.jpg.json").write_text(
        json.dumps({"people": [{"name": "picnic"}], "description": "Hanami"}), encoding="utf-8"
    )
    assert rows(read_metadata(photo)) == [
        ("caption", "Crème brûlée au café 🐶", "iptc:Caption-Abstract", ()),
        ("caption", "Hanami", "takeout:description", ()),  # a caption outranks the title
        ("tag", "桜", "iptc:Keywords", ()),
        ("person", "picnic", "takeout:people", ()),  # a person outranks the keyword
    ]


# --- other containers -----------------------------------------------------------------------


def test_heic_written_with_pillow_heif(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    xmp = (FIXTURES / "sidecar.xmp").read_bytes()
    exif = make_exif({MAKE: "Apple"}, {DATETIME_ORIGINAL: "2022:02:16 12:55:41", 0x9011: "+01:00"})
    photo = tmp_path / "p.heic"
    Image.new("RGB", (64, 48), "orange").save(photo, exif=exif.tobytes(), xmp=xmp)
    meta = read_metadata(photo)
    assert meta.camera_make == "Apple"
    assert meta.taken_at == "2022-02-16T12:55:41+01:00"
    assert ("person", "Jonas", "xmp:MPReg:PersonDisplayName", ()) in rows(meta)


def test_tiff_description_and_xmp(tmp_path):
    photo = tmp_path / "t.tif"
    xmp = (FIXTURES / "sidecar.xmp").read_bytes()
    Image.new("RGB", (16, 12)).save(photo, tiffinfo={270: "Crème brûlée".encode(), 700: xmp})
    texts = rows(read_metadata(photo))
    assert ("caption", "Crème brûlée", "exif:ImageDescription", ()) in texts
    assert ("tag", "cake", "xmp:dc:subject", ()) in texts


def test_given_image_gives_same_result(tmp_path):
    photo = FIXTURES / "exif_text.jpg"
    with Image.open(photo) as image:
        assert read_metadata(photo, image) == read_metadata(photo)


# --- bad input gives warnings, never exceptions ---------------------------------------------


def truncated_exif() -> bytes:
    """EXIF whose ImageDescription points far past the end of the data."""
    raw = bytearray(
        make_exif({DESCRIPTION: "long enough to be stored out of line", MAKE: "X"}).tobytes()
    )
    order = "<" if raw[6:8] == b"II" else ">"
    for index in range(struct.unpack_from(order + "H", raw, 14)[0]):
        entry = 16 + 12 * index
        if struct.unpack_from(order + "H", raw, entry)[0] == DESCRIPTION:
            struct.pack_into(order + "L", raw, entry + 8, 0x7FFFFF00)
    return bytes(raw)


def test_broken_sources_become_warnings(tmp_path):
    photo = write_jpeg(tmp_path / "photo.jpg", truncated_exif())
    (tmp_path / "photo.xmp").write_text("<x:xmpmeta><rdf:RDF>unclosed", encoding="utf-8")
    (tmp_path / "photo.jpg.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "photo.txt").write_text("still read", encoding="utf-8")
    meta = read_metadata(photo)
    assert rows(meta) == [("caption", "still read", "txt-sidecar", ())]
    assert len(meta.warnings) == 3, meta.warnings
    assert meta.warnings[0].startswith("Pillow: ")
    assert "photo.xmp" in meta.warnings[1] and "ParseError" in meta.warnings[1]
    assert "photo.jpg.json" in meta.warnings[2] and "JSONDecodeError" in meta.warnings[2]


def test_xml_entity_attack_is_refused(tmp_path):
    photo = copy_fixture("plain.jpg", tmp_path / "photo.jpg")
    (tmp_path / "photo.xmp").write_text(
        '<!DOCTYPE x [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">&b;</x:xmpmeta>',
        encoding="utf-8",
    )
    meta = read_metadata(photo)
    assert meta.texts == [] and "EntitiesForbidden" in meta.warnings[0]


def test_not_an_image_and_missing_file(tmp_path):
    fake = tmp_path / "fake.jpg"
    fake.write_bytes(b"this is not a JPEG")
    meta = read_metadata(fake)
    assert meta.taken_at_source == "file-mtime" and "UnidentifiedImageError" in meta.warnings[0]
    missing = read_metadata(tmp_path / "missing.jpg")
    assert (missing.taken_at, missing.taken_at_source, missing.texts) == (None, "", [])
    assert missing.warnings


def test_reading_changes_no_bytes_or_mtimes(tmp_path):
    photo = copy_fixture("xmp_embedded.jpg", tmp_path / "photo.jpg")
    copy_fixture("sidecar.xmp", tmp_path / "photo.xmp")
    (tmp_path / "photo.txt").write_text("caption", encoding="utf-8")
    files = sorted(tmp_path.iterdir()) + sample_files()  # photos and sidecars

    def state() -> list[tuple[str, int]]:
        return [(hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in files]

    before = state()
    for path in [photo, *sample_files()]:
        read_metadata(path)
    assert state() == before


def test_module_needs_no_qt_or_torch():
    code = (
        "import sys, photofind.library.metadata; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'PySide6', 'torch', 'open_clip'}))"
    )
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


# --- caption CSV ----------------------------------------------------------------------------


def test_read_captions_csv(tmp_path):
    csv_file = tmp_path / "captions.csv"
    csv_file.write_text(
        "\ufeffPath,Caption,Tags\n"
        "trip/a.jpg,Crème brûlée,food; dessert\n"
        'trip/a.jpg,"桜の下で 🐶","dog,food"\n'
        "trip/./a.jpg,,\n"
        f"{tmp_path / 'b.jpg'},,beach\n"
        ",orphan caption,\n",
        encoding="utf-8",
    )
    assert read_captions_csv(csv_file) == {
        str(tmp_path / "trip" / "a.jpg"): (
            ["Crème brûlée", "桜の下で 🐶"],
            ["food", "dessert", "dog"],
        ),
        str(tmp_path / "b.jpg"): ([], ["beach"]),
    }


def test_read_captions_csv_needs_path_column(tmp_path):
    csv_file = tmp_path / "c.csv"
    csv_file.write_text("file,caption\na.jpg,x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="path"):
        read_captions_csv(csv_file)


# --- the shared exif-samples: real cameras, real breakage -----------------------------------


def sample_files() -> list[Path]:
    if not SAMPLES.is_dir():
        return []
    return sorted(
        p
        for p in SAMPLES.rglob("*")
        if p.suffix.lower() in {".jpg", ".jpeg", ".tiff", ".heic", ".heif"}
    )


@needs_samples  # without the samples: one placeholder, which that skips
@pytest.mark.parametrize("photo", sample_files() or [pytest.param(None, id="no-samples")],
                         ids=lambda p: str(p.relative_to(SAMPLES)))
def test_every_sample_reads_without_raising(photo):
    meta = read_metadata(photo)
    assert isinstance(meta, PhotoMetadata)
    assert all(isinstance(w, str) and w for w in meta.warnings)
    assert meta.taken_at is not None and datetime.fromisoformat(meta.taken_at)
    assert all(t.kind in {"caption", "title", "tag", "person"} and t.text for t in meta.texts)
    if meta.gps:
        assert abs(meta.gps[0]) <= 90 and abs(meta.gps[1]) <= 180


@needs_samples
def test_gps_samples():
    photos = sorted((SAMPLES / "jpg" / "gps").glob("*.jpg"))
    assert photos
    for photo in photos:
        lat, lon = read_metadata(photo).gps
        assert 43.4 < lat < 43.5 and 11.8 < lon < 11.9, photo.name  # all shot in Tuscany
    assert read_metadata(SAMPLES / "jpg" / "gps" / "DSCN0010.jpg").gps == pytest.approx(
        (43.467448, 11.885127), abs=1e-5
    )
    assert read_metadata(SAMPLES / "jpg" / "Kodak_CX7530.jpg").gps == pytest.approx(
        (-0.3713, 36.056417),
        abs=1e-5,  # just south of the equator
    )


@needs_samples
def test_xmp_samples():
    blue = read_metadata(SAMPLES / "jpg" / "xmp" / "BlueSquare.jpg")
    assert rows(blue) == [
        (
            "caption",
            "XMPFiles BlueSquare test file, created in Photoshop CS2, "
            "saved as .psd, .jpg, and .tif.",
            "xmp:dc:description",
            (),
        ),
        ("title", "Blue Square Test File - .jpg", "xmp:dc:title", ()),
        *[
            ("tag", tag, "xmp:dc:subject", ())
            for tag in ["XMP", "Blue Square", "test file", "Photoshop", ".jpg"]
        ],
    ]
    goalie = read_metadata(SAMPLES / "jpg" / "xmp" / "no_exif.jpg")
    # Title, IPTC caption, ImageDescription and XPTitle all repeat the XMP description.
    assert [(t.kind, t.text[:17], t.source) for t in goalie.texts] == [
        ("caption", "Der Goalie bin ig", "xmp:dc:description"),
        ("caption", "Der Goalie bin ig", "exif:XPComment"),  # the longer Windows comment
        ("title", "Cinema", "exif:XPSubject"),
        ("tag", "tag", "xmp:dc:subject"),
    ]


@needs_samples
def test_heic_sample():
    meta = read_metadata(SAMPLES / "heic" / "IMG_5195.HEIC")
    assert (meta.camera_make, meta.camera_model) == ("Apple", "iPhone 11 Pro Max")
    assert (meta.taken_at, meta.taken_at_source) == (
        "2021-04-11T15:47:53-05:00",
        "exif:DateTimeOriginal",
    )
    assert meta.gps == pytest.approx((39.051344, -94.288772), abs=1e-5)


@needs_samples
def test_broken_samples_warn_instead_of_raising():
    type_error = read_metadata(SAMPLES / "jpg" / "tests" / "30-type_error.jpg")
    assert type_error.warnings == ["EXIF: Exif IFD pointer is a str, not an offset"]
    assert type_error.taken_at == "2013-07-05T03:18:27+00:00"  # XMP's copy of the lost EXIF date
    corrupted = read_metadata(SAMPLES / "jpg" / "corrupted.jpg")
    assert corrupted.texts == []  # only "OLYMPUS DIGITAL CAMERA"
    assert (corrupted.camera_make, corrupted.camera_model) == (
        "OLYMPUS IMAGING CORP.",
        "u1020,S1020",
    )
    assert corrupted.taken_at == "2015-09-08T11:02:17"
    for photo in sorted((SAMPLES / "jpg" / "invalid").glob("*.jpg")):
        meta = read_metadata(photo)  # no EXIF, but well-formed XMP with the creation date
        assert meta.taken_at_source == "xmp:xmp:CreateDate", photo.name


@needs_samples
def test_camera_junk_in_samples_and_real_comments_kept():
    def texts(relative: str) -> list[str]:
        return [t.text for t in read_metadata(SAMPLES / relative).texts]

    for relative in [
        "jpg/exif-org/olympus-c960.jpg",  # OLYMPUS DIGITAL CAMERA
        "jpg/exif-org/sanyo-vpcg250.jpg",  # SANYO DIGITAL CAMERA
        "jpg/Konica_Minolta_DiMAGE_Z3.jpg",  # KONICA MINOLTA DIGITAL CAMERA
        "jpg/tests/45-gps_ifd.jpg",  # the model name as description
        "jpg/WWL_(Polaroid)_ION230.jpg",  # the make as description
        "jpg/Samsung_Digimax_i50_MP3.jpg",  # the model again
        "jpg/Nikon_D70.jpg",  # "comment in GIMP 2.4.5"
        "jpg/PaintTool_sample.jpg",  # a hash in UserComment
    ]:
        assert texts(relative) == [], relative
    assert texts("jpg/exif-org/kodak-dc210.jpg") == [
        "Lovely smoke effect here, of which I'm secretly very proud."
    ]


def test_flickr_photos_carry_only_software_stamps():
    """The shared Flickr8k JPEG comments are all editor stamps ("AppleMark", Photoshop...)."""
    photos = sorted((shared_data("flickr8k") / "images").glob("*.jpg"))
    stamped = [p for p in photos if b"AppleMark" in p.read_bytes()[:4096]]
    assert stamped and all(read_metadata(p).texts == [] for p in stamped)
