"""The gate that decides whether an adaptation replaces the zero-shot model: a paired
bootstrap over validation queries must rule out noise, and no part of the score may fall."""

from __future__ import annotations

import numpy as np
import pytest

from photofind.adapt.judging import half, halves, judge, retrieval_metrics, tagged_score


def metrics(firsts, aps, tags=(), groups=None):
    """Validation metrics as the trainer computes them, from each query's first rank and AP
    (and the photos it asks for: ``groups``) and each held-out tagged photo's hit."""
    firsts, aps = np.asarray(firsts), np.asarray(aps, dtype=float)
    out = {f"R@{k}": 100 * float(np.mean(firsts <= k)) for k in (1, 5, 10)}
    out.update({"mAP": 100 * float(aps.mean()), "queries": len(firsts),
                "per_item": {"firsts": firsts.tolist(), "aps": aps.tolist(),
                             "tags": list(tags)}})
    if groups is not None:
        out["per_item"]["groups"] = list(groups)
    out["score"] = float(np.mean([out[k] for k in ("R@1", "R@5", "R@10", "mAP")]))
    if tags:
        out["tag_accuracy"] = 100 * float(np.mean(tags))
        out["score"] = tagged_score(out, out["tag_accuracy"])
    return out


def test_a_clear_gain_is_kept_and_says_by_how_much():
    rng = np.random.default_rng(1)
    firsts = rng.integers(1, 30, 300)
    better = np.where(rng.random(300) < 0.4, 1, firsts)  # 40 % of the queries now rank first
    verdict = judge(metrics(firsts, 1 / firsts), metrics(better, 1 / better))
    assert verdict.kept and 0 < verdict.low < verdict.gain
    assert verdict.reason.startswith(f"validation score +{verdict.gain}")


def test_a_gain_of_a_few_queries_is_not_kept():
    """Two queries better, one worse, out of 200: a score gain the old fixed margin (0.5
    points) would have kept, which chance explains."""
    firsts = np.full(200, 8)
    after = firsts.copy()
    after[:2], after[2] = 1, 12
    before, now = metrics(firsts, 1 / firsts), metrics(after, 1 / after)
    assert now["score"] - before["score"] >= 0.5
    verdict = judge(before, now)
    assert not verdict.kept and verdict.low <= 0 and "could be chance" in verdict.reason


def test_a_part_that_falls_beyond_its_noise_vetoes_the_gain():
    """Better mean rank and mAP everywhere but Recall@1 lost on many queries: rejected."""
    firsts = np.r_[np.ones(120, int), np.full(280, 20)]
    after = np.r_[np.full(120, 2), np.full(280, 3)]
    before, now = metrics(firsts, 1 / firsts), metrics(after, 1 / after)
    assert now["score"] > before["score"]
    verdict = judge(before, now)
    assert not verdict.kept and verdict.reason.startswith("R@1 fell by")


def test_tagged_photos_count_when_queries_are_few():
    """Five tag queries alone can prove nothing; 60 held-out tagged photos asked for their
    own tag can."""
    firsts = [40, 60, 3, 80, 20]
    tags_before = [True] * 18 + [False] * 42
    tags_after = [True] * 48 + [False] * 12
    verdict = judge(metrics(firsts, [0.05] * 5, tags_before),
                    metrics(firsts, [0.06] * 5, tags_after))
    assert verdict.kept and verdict.low > 20


def test_nothing_to_validate_on_keeps_nothing():
    empty = retrieval_metrics(np.zeros((1, 3)), [1, 2, 3], [{9}], items=True)
    verdict = judge(empty, empty)
    assert not verdict.kept and verdict.reason == "nothing to validate on"


def test_the_five_captions_of_one_photo_are_one_piece_of_evidence():
    """80 validation photos with 5 captions each: 3 photos' captions now rank first, one
    photo's fall from 8th to 12th. Drawn caption by caption, the 20 captions pass for 20
    independent results and the range narrows; drawn photo by photo, the gain is what
    chance could give, and one photo that got worse vetoes nothing."""
    groups = np.repeat(np.arange(80), 5)
    firsts = np.full(400, 8)
    after = firsts.copy()
    after[:15], after[15:20] = 1, 12
    by_photo = judge(metrics(firsts, 1 / firsts, groups=groups),
                     metrics(after, 1 / after, groups=groups))
    by_caption = judge(metrics(firsts, 1 / firsts), metrics(after, 1 / after))
    assert by_photo.gain == by_caption.gain > 2
    assert by_photo.low < by_caption.low
    assert not by_photo.kept and "could be chance" in by_photo.reason
    assert by_caption.reason.startswith("R@10 fell by")


def test_validation_queries_are_grouped_by_the_photos_they_ask_for():
    similarity = np.array([[0.9, 0.1, 0.2], [0.8, 0.3, 0.1], [0.1, 0.9, 0.2]])
    found = retrieval_metrics(similarity, [10, 11, 12], [{10}, {10}, {11, 12}], items=True)
    groups = found["per_item"]["groups"]
    assert groups[0] == groups[1] != groups[2]


def test_validation_splits_in_two_halves_that_keep_a_photos_queries_together():
    groups = [f"photo {i // 5}" for i in range(500)]  # 100 photos, 5 captions each
    choose, judged = halves(groups, seed=3, salt="choose a round")
    assert sorted([*choose, *judged]) == list(range(500)) and 200 <= len(choose) <= 300
    assert not {groups[i] for i in choose} & {groups[i] for i in judged}
    assert np.array_equal(choose, halves(groups, seed=3, salt="choose a round")[0])
    assert not np.array_equal(choose, halves(groups, seed=4, salt="choose a round")[0])
    one = halves(["photo 0"] * 5, seed=3, salt="s")  # nothing to split: both are everything
    assert one[0].tolist() == one[1].tolist() == [0, 1, 2, 3, 4]


def test_a_round_better_only_where_it_was_chosen_is_not_kept():
    """The adapter's best round is chosen on one half of the validation queries and judged
    on the other: a gain that exists only on the choosing half (the best of 10 rounds
    flatters itself there) is rejected, though judged on all queries it passes."""
    rng = np.random.default_rng(5)
    groups = [f"photo {i // 5}" for i in range(600)]
    firsts = rng.integers(1, 30, 600)
    before = metrics(firsts, 1 / firsts, groups=groups)
    choose = np.zeros(600, bool)
    choose[halves(groups, 0, "choose a round")[0]] = True
    lucky = np.where(choose & (rng.random(600) < 0.5), 1, firsts)
    after = metrics(lucky, 1 / lucky, groups=groups)
    assert half(after, "choose", 0)["score"] > half(before, "choose", 0)["score"] + 10
    assert judge(before, after).kept
    judged = judge(half(before, "judge", 0), half(after, "judge", 0))
    assert not judged.kept and judged.gain == 0
    whole = half(before, "judge", 0)
    assert whole["queries"] == len(halves(groups, 0, "choose a round")[1])
    assert whole["R@1"] == round(100 * float(np.mean(firsts[~choose] <= 1)), 2)


def test_a_split_validation_splits_its_tagged_photos_too():
    rng = np.random.default_rng(6)
    firsts = rng.integers(1, 30, 200)
    hits = [True] * 10 + [False] * 10
    found = metrics(firsts, 1 / firsts, tags=hits, groups=[i // 2 for i in range(200)])
    choose, judged = half(found, "choose", 1), half(found, "judge", 1)
    assert len(choose["per_item"]["tags"]) + len(judged["per_item"]["tags"]) == 20
    assert choose["queries"] + judged["queries"] == 200
    assert judged["score"] == tagged_score(judged, judged["tag_accuracy"])


def test_a_few_tag_queries_are_not_split():
    """A tagged library validates on a handful of tag queries and tagged photos: halved,
    the gate could not see a +14-point gain through them, so both halves are all of it."""
    hits = [True] * 10 + [False] * 20
    found = metrics([1, 2, 3, 40, 9], [1, 0.5, 0.3, 0.01, 0.1], tags=hits, groups=list("abcde"))
    for part in ("choose", "judge"):
        whole = half(found, part, 2)
        assert whole["queries"] == 5 and len(whole["per_item"]["tags"]) == 30
        assert whole["score"] == pytest.approx(found["score"], abs=0.01)


def test_a_later_variant_replaces_a_kept_one_only_when_clearly_better():
    """The button keeps the first variant that beats the plain model; a later one takes its
    place only by the same gate, not by a hair of validation score."""
    from photofind.adapt.report import AdaptResult
    from photofind.services.adapting import clearly_better

    def result(firsts):
        found = metrics(firsts, 1 / np.asarray(firsts))
        items = found.pop("per_item")
        return AdaptResult(True, "v", {}, found, 0, 1, 0.0, 1, 0.0, items=items)

    rng = np.random.default_rng(2)
    firsts = rng.integers(1, 30, 300)
    hair = firsts.copy()
    hair[:2] = 1  # two queries better: a higher score, which chance explains
    clear = np.where(rng.random(300) < 0.4, 1, firsts)
    kept = result(firsts)
    assert result(hair).after["score"] > kept.after["score"]
    assert not clearly_better(kept, result(hair))
    assert clearly_better(kept, result(clear))
    assert "items" not in result(clear).summary()  # per-item lists stay out of --json


def test_a_fusion_scored_from_its_top_k_equals_the_whole_gallery_sorted_again():
    """``FusedRanking`` (used to choose the reranker's weights) works out the relevant
    photos below the top k once; its metrics must equal ranking the whole gallery again
    with the top k reordered by the bonus and lifted above the rest."""
    from photofind.adapt.fused_ranking import FusedRanking

    rng = np.random.default_rng(0)
    similarity = rng.normal(size=(120, 400)).astype(np.float32)
    gallery = list(range(1000, 1400))
    relevant = [set(rng.choice(gallery, size=rng.integers(1, 8), replace=False).tolist())
                for _ in range(120)]
    relevant[3] = {5}  # not in the gallery: left out by both
    top = np.argsort(-similarity, axis=1)[:, :50]
    ranking = FusedRanking(similarity, top, gallery, relevant)
    for scale in (0.0, 0.5, 3.0):
        bonus = scale * rng.normal(size=top.shape).astype(np.float32)
        fused = similarity.copy()
        order = np.argsort(-(np.take_along_axis(similarity, top, 1) + bonus), axis=1,
                           kind="stable")
        lifted = similarity.max() + 1 + np.arange(50, 0, -1, dtype=np.float32)
        np.put_along_axis(fused, np.take_along_axis(top, order, 1),
                          np.broadcast_to(lifted, top.shape), 1)
        whole = retrieval_metrics(fused, gallery, relevant, items=True)
        quick = ranking.metrics(bonus)
        assert quick["queries"] == whole["queries"] == 119
        for name in ("R@1", "R@5", "R@10", "mAP", "score", "median_rank"):
            assert quick[name] == whole[name]
        assert quick["per_item"]["firsts"] == whole["per_item"]["firsts"]
        assert np.allclose(quick["per_item"]["aps"], whole["per_item"]["aps"])
    assert ranking.metrics(np.zeros(top.shape))["R@1"] == \
        retrieval_metrics(similarity, gallery, relevant)["R@1"]
    with pytest.raises(ValueError, match="first k columns"):  # not the ranking's own top k
        FusedRanking(similarity, top[:, ::-1][:, :10], gallery, relevant)
