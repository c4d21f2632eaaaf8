"""A query that names a tag also looks like the photos carrying it (search/examples.py):
real JPEGs, tags read from real XMP sidecars, a real index."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageEnhance
from test_hybrid_search import XMP

from photofind.search.examples import WORDS_TRUSTED_AT, Examples, spread, tag_name
from photofind.search.relevance import WORDS_MATCH

from conftest import write_photo


def look_alikes(folder, stem: str, index: int, count: int) -> list:
    """``count`` JPEGs of one scene: the same generated photo, each a little brighter or
    darker and shifted by a few pixels at random, as a burst of shots of one thing."""
    base = write_photo(folder / f"{stem}-base.jpg", index)
    scene = Image.open(base).convert("RGB")
    base.unlink()
    rng = np.random.default_rng(index)
    photos = []
    for i in range(count):
        shot = ImageEnhance.Brightness(scene).enhance(float(rng.uniform(0.92, 1.08)))
        x, y = (int(v) for v in rng.integers(0, 12, 2))
        shot = shot.crop((x, y, 480 + x, 360 + y))
        photos.append(folder / f"{stem}-{i}.jpg")
        shot.save(photos[-1], "JPEG", quality=88)
    return photos


def tag(photo, name: str) -> None:
    photo.with_suffix(".xmp").write_text(XMP.format(tag=name, caption=""), encoding="utf-8")


@pytest.fixture
def burst_library(library, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    dog = look_alikes(folder, "dog", 3, 6)
    beach = look_alikes(folder, "beach", 1, 6)
    for i in range(10, 18):
        write_photo(folder / f"other-{i}.jpg", i)
    for photo in dog[:3]:
        tag(photo, "Biscuit")
    tag(beach[0], "Rex")  # one photo: too few to say what "Rex" looks like
    library.index([folder])
    return library, dog, beach


def ranked(library, vector, k):
    return [pid for pid, _ in library.vectors.search(vector, k)]


def test_a_tag_query_finds_untagged_look_alikes_of_its_photos(burst_library):
    library, dog, _ = burst_library
    ids = {library.catalog.photo_by_path(p).id for p in dog}
    words = library.embedder.encode_texts(["Biscuit"])[0]
    assert set(ranked(library, words, 6)) != ids  # the words alone do not find them
    found = library.search("Biscuit", k=6, hybrid=False)
    assert {r.photo.id for r in found} == ids  # the 3 tagged and their 3 untagged look-alikes
    assert {r.photo.id for r in library.search("a photo of  biscuit", k=6, hybrid=False)} \
        == ids  # any case, the evaluation's template too
    for result in found:  # shown: the words' own cosine, as for any text query
        assert result.score == pytest.approx(float(library.vectors.vector(result.photo.id) @ words),
                                             abs=1e-5)
    with_words = library.search("Biscuit", k=6)  # the tagged ones by their tag, then the rest
    assert {r.photo.id for r in with_words} == ids
    assert [r.text_match for r in with_words] == [True] * 3 + [False] * 3


def test_look_alikes_pass_a_minimum_score_as_matching_words_do(burst_library):
    library, dog, _ = burst_library
    ids = {library.catalog.photo_by_path(p).id for p in dog}
    words = library.embedder.encode_texts(["Biscuit"])[0]
    high = max(float(library.vectors.vector(i) @ words) for i in ids) + 0.01
    newest = library.search("Biscuit", k=20, min_score=high, order="newest", hybrid=False)
    assert ids <= {r.photo.id for r in newest}  # none of them reaches it by its words
    assert all(r.score >= high for r in newest if r.photo.id not in ids)
    assert all(r.relevance >= WORDS_MATCH for r in newest if r.photo.id in ids)


def test_queries_naming_no_tag_or_a_one_photo_tag_search_by_their_words(burst_library):
    library, _, _ = burst_library
    for query in ("Biscuit on the beach", "Rex", "a dog"):
        words = library.embedder.encode_texts([query])[0]
        assert library.engine.with_examples(query, words) is words
        assert [r.photo.id for r in library.search(query, k=10, hybrid=False)] == \
            ranked(library, words, 10)


def test_a_tag_is_told_apart_from_photos_with_other_tags_and_the_rest(burst_library):
    library, dog, beach = burst_library
    rex = library.catalog.photo_by_path(beach[0]).id
    biscuit = sorted(library.catalog.photo_by_path(p).id for p in dog[:3])
    everyone = sorted(library.vectors.ids)
    assert library.catalog.tagged_among(everyone) == sorted([rex, *biscuit])
    assert library.catalog.tagged_among([i for i in everyone if i not in biscuit]) == [rex]
    examples = library.engine.tag_examples("Biscuit")
    assert examples.count == 3 and examples.sign is not None
    assert len(examples.others) == len(library.vectors) - 3  # all the others: < 500


def test_without_stored_vectors_to_tell_it_apart_a_tag_searches_by_its_look(burst_library):
    """Another process reset the model: the catalog has no vectors of the current model for
    the other photos while the index still serves. The tag's look still finds its photos."""
    library, dog, _ = burst_library
    ids = {library.catalog.photo_by_path(p).id for p in dog}
    library.catalog.drop_model(library.model_key)
    examples = library.engine.tag_examples("Biscuit")
    assert examples.count == 3 and examples.sign is None
    assert {r.photo.id for r in library.search("Biscuit", k=6, hybrid=False)} == ids


def test_the_evaluation_ranks_a_tag_query_as_search_does(burst_library):
    from photofind.services.evaluate import rankings

    library, dog, _ = burst_library
    top = rankings(library, ["Biscuit"])[0][:6].tolist()
    assert top == [r.photo.id for r in library.search("Biscuit", k=6, hybrid=False)]


def test_a_tags_sign_is_what_sets_its_photos_apart_not_what_all_photos_share():
    """Every photo here leans on y (as photos of a library share a look); the tagged ones
    also on x. Their mean look ranks a photo by its y; their sign by its x."""
    rng = np.random.default_rng(0)
    tagged = np.array([0.7, 0.7, 0.0]) + rng.normal(0, 0.05, (20, 3))
    others = np.array([0.0, 0.7, 0.0]) + rng.normal(0, 0.3, (200, 3)) * [0.2, 1, 1]
    on_x, on_y = np.array([[0.6, 0.0, 0.8]]), np.array([[0.3, 0.95, 0.8]])
    words = np.array([0.0, 0.0, 1.0])  # words that favour neither (same z)
    mean_only = Examples.of(tagged)
    assert mean_only.sign is None
    assert on_y @ mean_only.direction(words) > on_x @ mean_only.direction(words)
    told_apart = Examples.of(tagged, others=others)
    assert told_apart.sign[0] > 0.9  # along x
    assert on_x @ told_apart.direction(words) > on_y @ told_apart.direction(words)
    # photos that cannot be told from the others: no sign, the mean look as before
    same = Examples.of(tagged[:3], others=tagged[:3])
    assert same.sign is None
    assert same.direction(words) == pytest.approx(Examples.of(tagged[:3]).direction(words))


def test_the_fewer_the_examples_the_less_the_sign_trusts_their_spread():
    """The photos vary a lot along x and little along y; the tagged ones sit a step off
    along both. From many examples the sign leans on y (the step is rare there); from three,
    whose spread says little, it stays near the plain step from the others to them."""
    rng = np.random.default_rng(2)
    spread_xy = np.array([1.0, 0.1, 0.1, 0.1])
    others = rng.normal(0, 1, (400, 4)) * spread_xy
    step = np.array([0.5, 0.5, 0.0, 0.0])
    many = Examples.of(rng.normal(0, 1, (200, 4)) * spread_xy + step, others=others).sign
    few = Examples.of(rng.normal(0, 1, (3, 4)) * spread_xy + step, others=others).sign
    assert abs(many[1]) > 0.9  # along y
    plain_step = step / np.linalg.norm(step)
    assert float(few @ plain_step) > 0.9 > float(many @ plain_step)


def test_words_and_sign_mix_in_units_of_their_spread():
    """The direction is words/σ_words + 4·sign/σ_sign (σ: spread of each part's scores over
    the other photos), so a model with a narrower cosine range mixes them the same way."""
    rng = np.random.default_rng(1)
    tagged = rng.normal(0, 1, (30, 8)) + [2, 0, 0, 0, 0, 0, 0, 0]
    others = rng.normal(0, 1, (300, 8))
    examples = Examples.of(tagged, others=others)
    words = rng.normal(0, 1, 8) + [3, 0, 0, 0, 0, 0, 0, 0]  # words that know the tag
    words /= np.linalg.norm(words)
    assert examples.trust(words) == 1.0
    (a, b), *_ = np.linalg.lstsq(np.stack([words, examples.sign], axis=1),
                                 examples.direction(words), rcond=None)
    assert b / a == pytest.approx(4.0 * np.std(others @ words) / np.std(others @ examples.sign),
                                  rel=1e-3)


def test_words_that_do_not_tell_the_tags_photos_apart_count_for_nothing():
    """A pet's made-up name means nothing to the model: its words score the tagged photos
    no higher than the others, and the query searches along the sign alone. Words that do
    set them apart, if only by a fraction of a spread, count in part."""
    rng = np.random.default_rng(3)
    tagged = rng.normal(0, 1, (40, 8)) + [2, 0, 0, 0, 0, 0, 0, 0]
    others = rng.normal(0, 1, (400, 8))
    examples = Examples.of(tagged, others=others)
    name = np.array([0, 0, 0, 0, 0, 0, 0, 1.0])  # unrelated to x, where the tag's photos are
    assert examples.trust(name) < 0.5
    away = np.array([-1.0, 0, 0, 0, 0, 0, 0, 0])  # words that point away from them
    assert examples.trust(away) == 0.0
    assert examples.direction(away) == pytest.approx(examples.sign, abs=1e-6)
    slight = np.array([0.1, 0, 0, 0, 0, 0, 0, 1.0])
    slight /= np.linalg.norm(slight)
    assert 0.0 < examples.trust(slight) < 1.0
    gap = (tagged.mean(axis=0) @ slight - (others @ slight).mean()) / np.std(others @ slight)
    assert examples.trust(slight) == pytest.approx(gap / WORDS_TRUSTED_AT, rel=1e-3)


def test_examples_weigh_as_much_as_the_words():
    words = np.array([3.0, 0.0, 0.0], dtype=np.float32)
    half = np.sqrt(0.5)
    photos = np.array([[0, 1, 0], [0, 0, 1], [0, half, half]], dtype=np.float32)
    look = Examples.of(photos)  # their mean, as a unit vector: (0, √½, √½)
    assert look.direction(words) == pytest.approx(np.array([1, half, half]) / np.sqrt(2))
    # the least typical examples, (0, 1, 0) and (0, 0, 1), are 67.5° from the others' look
    assert look.floor == pytest.approx(np.cos(np.radians(67.5)), abs=1e-6)
    assert look.alike(np.array([[0, half, half], [0.6, 0.8, 0], [1, 0, 0]])).tolist() == \
        [True, True, False]
    assert tag_name("  A photo of   Biscuit ") == "Biscuit" and tag_name(" ") is None
    assert spread(list(range(10)), 3) == [0, 4, 8]  # across the tag's photos, not its first
