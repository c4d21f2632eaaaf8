"""How an adaptation (and the reranker taught with it) is judged: which photos validation
scores against and which serve as negatives, the retrieval metrics, and the gain that must
be clear before anything replaces the zero-shot model."""

from __future__ import annotations

import random

import numpy as np

from photofind.adapt.data import AdaptationData

GATE_MARGIN = 0.5  # validation score points an adaptation must gain to replace zero-shot
MIN_QUERIES_FOR_RECALL = 50  # below this Recall@k moves in steps too coarse to judge by


def clear_gain(before: dict, after: dict) -> bool:
    """Keep an adaptation only for a gain that validation noise is unlikely to fake: a margin
    on the score and no loss of Recall@1 (captioned Flickr8k, bench model: adapters that
    validation scored a hair above zero-shot lost 0.2-0.4 R@1 on held-out captions). A
    handful of tag queries moves Recall@1 in 20-point steps: no veto there."""
    steady = after["R@1"] >= before["R@1"] or before.get("queries", 0) < MIN_QUERIES_FOR_RECALL
    return after["score"] >= before["score"] + GATE_MARGIN and steady


def tagged_score(metrics: dict, tag_accuracy: float) -> float:
    """The validation score of a library with tags: tag accuracy joins the retrieval metrics.
    Recall@k of a handful of queries (a tag-only library has one per tag) moves in 20-point
    steps and decided early stopping on noise (bench model, tagged flowers: an epoch with 60 %
    tag accuracy chosen over one with 77 %), so there only mAP stays."""
    coarse = metrics["queries"] < MIN_QUERIES_FOR_RECALL
    names = ("mAP",) if coarse else ("R@1", "R@5", "R@10", "mAP")
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
                      relevant: list[set[int]], names: list[str] | None = None) -> dict:
    """Text→image Recall@1/5/10, mean and median rank (first relevant photo), mAP; "score"
    (their mean, ranks excluded) decides early stopping and whether adaptation is kept."""
    index = {pid: i for i, pid in enumerate(gallery)}
    order = np.argsort(-similarity, axis=1)
    firsts, aps, per_query = [], [], {}
    for number, (row, wanted) in enumerate(zip(order, relevant)):
        hits = np.isin(row, [index[p] for p in wanted if p in index])
        positions = np.flatnonzero(hits) + 1
        if not len(positions):
            continue
        firsts.append(positions[0])
        aps.append(float(np.mean(np.arange(1, len(positions) + 1) / positions)))
        if names is not None:
            per_query[names[number]] = round(100 * aps[-1], 2)
    if not firsts:
        return {"R@1": 0.0, "R@5": 0.0, "R@10": 0.0, "mean_rank": None, "median_rank": None,
                "mAP": None, "score": 0.0, "queries": 0, "per_query": per_query}
    firsts = np.asarray(firsts)
    metrics = {f"R@{k}": round(100 * float(np.mean(firsts <= k)), 2) for k in (1, 5, 10)}
    metrics["mean_rank"] = round(float(firsts.mean()), 2)
    metrics["median_rank"] = float(np.median(firsts))
    metrics["mAP"] = round(100 * float(np.mean(aps)), 2)
    metrics["score"] = round(float(np.mean([metrics["R@1"], metrics["R@5"], metrics["R@10"],
                                            metrics["mAP"]])), 3)
    metrics["queries"] = len(firsts)
    metrics["per_query"] = per_query
    return metrics
