"""How an adaptation (and the reranker taught with it) is judged: which photos validation
scores against and which serve as negatives, the retrieval metrics, and the gain that must
be clear before anything replaces the zero-shot model."""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from photofind.adapt.data import AdaptationData

MIN_QUERIES_FOR_RECALL = 50  # below this Recall@k moves in steps too coarse to judge by
BOOTSTRAP_ROUNDS = 2000
CONFIDENCE = 0.90  # two-sided: the lower bound is the 5th percentile of the resampled gains


@dataclass(frozen=True)
class Verdict:
    """Whether an adaptation replaces the zero-shot model, and why, in a sentence."""

    kept: bool
    gain: float  # validation score, after - before
    low: float  # lower bound of the gain (CONFIDENCE, paired bootstrap)
    reason: str


def judge(before: dict, after: dict, seed: int = 0) -> Verdict:
    """Keep an adaptation only for a gain that validation noise cannot explain: a paired
    bootstrap over the validation queries (and, with tags, the held-out tagged photos)
    must put the lower bound of the score's gain above zero, and no component (R@1, R@5,
    R@10, mAP, tag accuracy) may fall by more than its own noise band. A fixed margin was
    fooled both ways: on captioned Flickr8k (525 queries) adapters 0.3-0.5 points above
    zero-shot lost 0.2-0.4 R@1 on held-out captions, while on a tagged library 5 queries
    move R@1 in 20-point steps."""
    gain = round(after["score"] - before["score"], 2)
    was, now = before.get("per_item"), after.get("per_item")
    if not was or not now or not (len(was["firsts"]) or len(was["tags"])):
        return Verdict(False, gain, gain, "nothing to validate on")
    if (len(was["firsts"]), len(was["tags"]), was.get("groups")) != \
            (len(now["firsts"]), len(now["tags"]), now.get("groups")):
        return Verdict(False, gain, gain, "validated on different photos: cannot compare")
    rng = np.random.default_rng(seed)
    queries = _draws(was.get("groups", list(range(len(was["firsts"])))), rng)
    photos = _draws(list(range(len(was["tags"]))), rng)
    deltas = {name: _resampled(now, name, queries, photos) - _resampled(was, name, queries,
                                                                         photos)
              for name in score_parts(before)}
    score = np.mean(list(deltas.values()), axis=0)
    tail = (1 - CONFIDENCE) / 2
    low = round(float(np.quantile(score, tail)), 2)
    for name, delta in deltas.items():
        if np.quantile(delta, 1 - tail) < 0:
            change = round(float(np.mean(delta)), 1)
            return Verdict(False, gain, low, f"{name} fell by {-change} points on held-back "
                                             f"photos, more than chance explains")
    if low > 0:
        return Verdict(True, gain, low, f"validation score +{gain} (at least +{low} with "
                                        f"{CONFIDENCE:.0%} confidence)")
    return Verdict(False, gain, low, f"validation score {gain:+} could be chance (the "
                                     f"{CONFIDENCE:.0%} range reaches {low:+})")


def halves(groups: Sequence[Hashable], seed: int, salt: str) -> tuple[np.ndarray, np.ndarray]:
    """Validation items split in two by group (a photo's captions stay together), seeded:
    one half chooses (the adapter's best round, the reranker's weights), the other judges
    the choice. The best of many choices judged on the items that chose it flattered itself
    (captioned Flickr8k: kept by the gate, then below zero-shot on held-out captions).
    Fewer than ``2 * MIN_QUERIES_FOR_RECALL`` items are not split (both halves are all of
    them): halving a tagged library's 5 tag queries and 30 tagged photos left the gate too
    little to see a +14-point gain through (bench flowers, seed 2: rejected, mAP 31 instead
    of ~80), while a choice among ~10 rounds flatters itself by far less than such gains."""
    if len(groups) < 2 * MIN_QUERIES_FOR_RECALL:
        every = np.arange(len(groups))
        return every, every
    return _two_parts(groups, seed, salt)


def held_back_texts(data: AdaptationData, seed: int, max_queries: int | None = None):
    """The validation texts that choose and judge the reranker's fusion weights: (texts →
    their photos, the texts in order, the rows that choose, the rows that judge; the same
    rows when too few to halve). At most ``max_queries`` texts, a random sample."""
    queries = data.val.queries()
    names = sorted(queries)
    if max_queries is not None and len(names) > max_queries:
        names = sorted(random.Random(seed + 3).sample(names, max_queries))
    choose_rows, judge_rows = halves([frozenset(queries[name]) for name in names], seed,
                                     "choose weights")
    return queries, names, choose_rows, judge_rows


def _two_parts(groups: Sequence[Hashable], seed: int, salt: str) -> tuple[np.ndarray, np.ndarray]:
    distinct = sorted(set(groups), key=lambda g: sorted(g) if isinstance(g, frozenset) else g)
    if len(distinct) < 2:
        every = np.arange(len(groups))
        return every, every
    random.Random(f"{salt} {seed}").shuffle(distinct)
    first = set(distinct[: len(distinct) // 2])
    inside = np.asarray([g in first for g in groups], dtype=bool)
    return np.flatnonzero(inside), np.flatnonzero(~inside)


def half(metrics: dict, part: str, seed: int) -> dict:
    """The metrics of ``metrics["per_item"]`` restricted to one ``part`` ("choose" or
    "judge") of the validation queries and, when those are split, of the held-out tagged
    photos, with their own "per_item" for ``judge``."""
    items = metrics["per_item"]
    groups = items.get("groups") or list(range(len(items["firsts"])))
    side = 0 if part == "choose" else 1
    rows = halves(groups, seed, "choose a round")[side]
    tag_rows = np.arange(len(items["tags"]))
    if len(rows) < len(groups):
        tag_rows = _two_parts(tag_rows.tolist(), seed, "choose a round by tags")[side]
    out = summary_metrics(np.asarray(items["firsts"], dtype=np.int64)[rows],
                          [items["aps"][i] for i in rows], [groups[i] for i in rows],
                          items=True)
    tags = [items["tags"][i] for i in tag_rows]
    if tags:
        out["per_item"]["tags"] = tags
        out["tag_accuracy"] = round(100 * float(np.mean(tags)), 2)
        out["score"] = tagged_score(out, out["tag_accuracy"])
    return out


def score_parts(metrics: dict) -> list[str]:
    """The metrics the validation score averages (see ``retrieval_metrics``,
    ``tagged_score``)."""
    coarse = metrics.get("queries", 0) < MIN_QUERIES_FOR_RECALL
    tags = metrics.get("tag_accuracy") is not None
    names = ["mAP"] if coarse and tags else ["R@1", "R@5", "R@10", "mAP"]
    return names + (["tag_accuracy"] if tags else [])


def _draws(groups: list, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap draws of whole groups (the five captions of one photo are drawn together,
    as they succeed or fail together; drawn one by one they would pass for independent
    tests and narrow the range): rounds × groups counts, and each item's group."""
    _, member_of = np.unique(np.asarray(groups), return_inverse=True)
    count = int(member_of.max()) + 1 if len(member_of) else 0
    if not count:
        return np.zeros((BOOTSTRAP_ROUNDS, 0)), member_of
    return rng.multinomial(count, np.full(count, 1 / count), size=BOOTSTRAP_ROUNDS), member_of


def _resampled(items: dict, name: str, queries, photos) -> np.ndarray:
    """The metric ``name`` (0-100) on each bootstrap sample of queries / tagged photos:
    per-group sums and sizes, so memory grows with groups, not rounds × items."""
    if name == "tag_accuracy":
        values, (drawn, member_of) = np.asarray(items["tags"], dtype=float), photos
    elif not len(items["firsts"]):
        return np.zeros(BOOTSTRAP_ROUNDS)
    elif name == "mAP":
        values, (drawn, member_of) = np.asarray(items["aps"], dtype=float), queries
    else:
        values = (np.asarray(items["firsts"]) <= int(name.removeprefix("R@"))).astype(float)
        drawn, member_of = queries
    sums = np.bincount(member_of, values, minlength=drawn.shape[1])
    sizes = np.bincount(member_of, minlength=drawn.shape[1])
    return 100 * (drawn @ sums) / (drawn @ sizes)


def tagged_score(metrics: dict, tag_accuracy: float) -> float:
    """The validation score of a library with tags: tag accuracy joins the retrieval metrics.
    Recall@k of a handful of queries (a tag-only library has one per tag) moves in 20-point
    steps and decided early stopping on noise (bench model, tagged flowers: an epoch with 60 %
    tag accuracy chosen over one with 77 %), so there only mAP stays."""
    names = score_parts({**metrics, "tag_accuracy": tag_accuracy})[:-1]
    parts = [metrics[k] for k in names if metrics[k] is not None]
    return round(float(np.mean(parts + [tag_accuracy])), 3)


def negative_pool(data: AdaptationData, size: int, seed: int) -> list[int]:
    """Unlabelled photos used as soft negatives, sampled apart from the validation gallery's
    own sample so that validation does not score against exactly the photos training
    pushed away. (Validation photos stay out: as negatives of their own tags they cost
    tagged libraries ~10 mAP points on made-up names, bench model.)"""
    pool = data.unlabelled[:]
    random.Random(seed + 2).shuffle(pool)
    return pool[:size]


def validation_gallery(data: AdaptationData, size: int, seed: int) -> list[int]:
    """The validation photos among a sample of the rest of the library, captioned training
    photos included: scored against photos that training pulled close as well as those it
    pushed away. Tagged training photos stay out, since they would be true matches of the
    validation tags counted as misses."""
    others = [p for p in data.train.photo_ids if p not in data.train.tags] + data.unlabelled
    random.Random(seed + 1).shuffle(others)
    return data.val.photo_ids + others[: max(0, size - len(data.val.photo_ids))]


def retrieval_metrics(similarity: np.ndarray, gallery: list[int],
                      relevant: list[set[int]], names: list[str] | None = None,
                      items: bool = False) -> dict:
    """Text→image Recall@1/5/10, mean and median rank (first relevant photo), mAP; "score"
    (their mean, ranks excluded) decides early stopping and whether adaptation is kept.
    ``items`` adds "per_item": each query's first rank, AP and group (the photos it asks
    for), for ``judge``'s bootstrap."""
    index = {pid: i for i, pid in enumerate(gallery)}
    wanted = [sorted(index[p] for p in want if p in index) for want in relevant]
    used = [i for i, w in enumerate(wanted) if w]
    positions = relevant_positions(similarity[used], [wanted[i] for i in used])
    aps = [float(np.mean(np.arange(1, len(p) + 1) / p)) for p in positions]
    per_query = {} if names is None else {names[i]: round(100 * ap, 2)
                                          for i, ap in zip(used, aps)}
    return summary_metrics(np.asarray([p[0] for p in positions], dtype=np.int64), aps,
                           [str(wanted[i]) for i in used], items, per_query)


def relevant_positions(similarity: np.ndarray, wanted: list[list[int]]) -> list[np.ndarray]:
    """For each query (a row), the 1-based positions of its ``wanted`` gallery columns in
    the ranking by similarity, best first."""
    order = np.argsort(-similarity, axis=1)
    return [np.flatnonzero(np.isin(row, want)) + 1 for row, want in zip(order, wanted)]


def summary_metrics(firsts: np.ndarray, aps: list[float], groups: list[str],
                    items: bool = False, per_query: dict | None = None) -> dict:
    """The metrics of ``retrieval_metrics`` from each query's first relevant position,
    average precision (0-1) and group."""
    per_query = per_query or {}
    if not len(firsts):
        return {"R@1": 0.0, "R@5": 0.0, "R@10": 0.0, "mean_rank": None, "median_rank": None,
                "mAP": None, "score": 0.0, "queries": 0, "per_query": per_query,
                **({"per_item": {"firsts": [], "aps": [], "groups": [], "tags": []}}
                   if items else {})}
    metrics = {f"R@{k}": round(100 * float(np.mean(firsts <= k)), 2) for k in (1, 5, 10)}
    metrics["mean_rank"] = round(float(firsts.mean()), 2)
    metrics["median_rank"] = float(np.median(firsts))
    metrics["mAP"] = round(100 * float(np.mean(aps)), 2)
    metrics["score"] = round(float(np.mean([metrics["R@1"], metrics["R@5"], metrics["R@10"],
                                            metrics["mAP"]])), 3)
    metrics["queries"] = len(firsts)
    metrics["per_query"] = per_query
    if items:
        metrics["per_item"] = {"firsts": firsts.tolist(), "aps": list(aps),
                               "groups": list(groups), "tags": []}
    return metrics
