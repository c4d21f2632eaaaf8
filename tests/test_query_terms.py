"""Queries that combine, weigh and exclude terms (issue 20): the parser, and what a
combined query does to a real library's ranking."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from photofind.library.metadata import TextItem
from photofind.search.terms import QueryError, Term, is_plain, parse

from conftest import make_photos


def test_terms_weights_images_and_signs(tmp_path):
    photo = make_photos(tmp_path, 1)[0]
    terms = parse(f"beach + 2:{photo} - people - 0.5:rain")
    assert terms == [Term(1.0, text="beach"), Term(2.0, image=photo),
                     Term(-1.0, text="people"), Term(-0.5, text="rain")]
    assert parse("t-shirt on a 2-year-old") == [Term(1.0, text="t-shirt on a 2-year-old")]
    assert parse("-dog") == [Term(1.0, text="-dog")]  # no space: a word, not a sign
    assert parse("red kayak") == [Term(1.0, text="red kayak")] and is_plain(parse("red kayak"))
    assert not is_plain(parse("2:red kayak")) and not is_plain(parse(str(photo)))
    assert parse("./missing.jpg + sea")[0] == Term(1.0, text="./missing.jpg")  # no such file
    assert parse("12:30 train") == [Term(12.0, text="30 train")]  # a weight, as documented


@pytest.mark.parametrize("query,why", [("- people", "nothing to look for"),
                                       ("- people - rain", "nothing to look for"),
                                       ("0:beach", "above 0")])
def test_queries_that_cannot_run_say_why(query, why):
    with pytest.raises(QueryError, match=why):
        parse(query)


@pytest.fixture
def indexed(library, tmp_path):
    photos = make_photos(tmp_path / "photos", 12)
    library.index([tmp_path / "photos"])
    return library, photos


def rank_of(results, photo: Path) -> int:
    return [r.path for r in results].index(str(photo))


def test_a_negative_term_pushes_its_photos_down(indexed):
    lib, photos = indexed
    near, away = photos[0], photos[1]
    plain = lib.search(f"{near} + {away}", k=12)
    pushed = lib.search(f"{near} - {away}", k=12)
    assert rank_of(plain, near) <= 2 and rank_of(plain, away) <= 2
    assert rank_of(pushed, near) == 0 and rank_of(pushed, away) >= 6  # to the bottom half


def test_weights_decide_between_two_terms(indexed):
    lib, photos = indexed
    assert rank_of(lib.search(f"3:{photos[2]} + {photos[3]}", k=12), photos[2]) == 0
    assert rank_of(lib.search(f"{photos[2]} + 3:{photos[3]}", k=12), photos[3]) == 0


def test_negative_words_drop_caption_matches(indexed):
    lib, photos = indexed
    with lib.catalog.transaction() as db:
        for photo, caption in ((photos[4], "a dog on the beach"), (photos[5], "the beach")):
            row = lib.catalog.photo_by_path(photo)
            lib.catalog.add_texts(db, row.id, [TextItem("caption", caption, "test", "")])
    matched = {r.path for r in lib.search("beach", k=12) if r.text_match}
    assert matched == {str(photos[4]), str(photos[5])}
    matched = {r.path for r in lib.search("beach - dog", k=12) if r.text_match}
    assert matched == {str(photos[5])}


def test_the_cli_takes_combined_queries_and_explains_bad_ones(indexed, tmp_path):
    lib, photos = indexed
    run = [sys.executable, "-m", "photofind", "--data-dir", str(lib.data_dir), "search"]
    done = subprocess.run([*run, f"{photos[6]} - {photos[7]}", "-k", "12"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert str(photos[6]) in lines[0]
    assert not any(str(photos[7]) in line for line in lines[:6])  # pushed to the bottom half
    bad = subprocess.run([*run, "--", "- people"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "nothing to look for" in bad.stderr
    assert "Traceback" not in bad.stderr
