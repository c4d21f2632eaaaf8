"""Retrieval quality through the real catalog, index and adaptation code (``photofind eval``).

Two protocols on any folder + CSV, any model:

* **captioned** (``image,caption``): seeded, a share of the photos are the owner's captioned
  photos (their captions enter the catalog as if read from metadata); the captions of the
  other photos are the queries; the gallery is the whole library. Recall@1/5/10, median rank.
* **tagged** (``image,tags``, optionally mixed into a folder of untagged distractor photos):
  seeded, a share of each tag's photos carry it; each tag is a query (as written, as
  "a photo of …"), optionally under a made-up personal name; AP and precision@10 over all
  untagged photos, and over the untagged tagged-folder photos alone (no distractors).

Queries are never used for training or model selection: validation comes from the owner's
own captions/tags (``photofind.adapt``), exactly as in the app.
"""

from __future__ import annotations

import csv
import random
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from photofind.adapt.data import QUERY_TEMPLATE
from photofind.adapt.store import AdaptConfig
from photofind.library.metadata import TextItem
from photofind.services import adapting as adaptation
from photofind.services.library import PhotoLibrary

VARIANTS = {
    "zero-shot": None,
    "text": AdaptConfig(text=True, visual=False, concept_min_photos=0),
    "visual": AdaptConfig(text=False, visual=True, concept_min_photos=0),
    "both": AdaptConfig(text=True, visual=True, concept_min_photos=0),
    "adapter": AdaptConfig(text=False, visual=False, adapter=True, concept_min_photos=0),
    "text+adapter": AdaptConfig(text=True, visual=False, adapter=True, concept_min_photos=0),
    "concepts": AdaptConfig(text=False, visual=False, concept_max_ap=101.0),
    "text+adapter+concepts": AdaptConfig(text=True, visual=False, adapter=True,
                                         concept_max_ap=101.0),
    "adapter+concepts": AdaptConfig(text=False, visual=False, adapter=True),
}
# "+rerank" after any variant also teaches the cross-encoder and ranks through it.
# "button" runs exactly what "Adapt to my library" runs: the app's variants with their
# concepts, negatives, time budgets and gate, then the reranker within its budget; the
# --epochs/--batch-size/--negatives/--min-steps settings do not apply to it.
BUTTON = "button"


@dataclass
class EvalSettings:
    variants: list[str] = field(default_factory=lambda: ["zero-shot", "text", "both"])
    seeds: list[int] = field(default_factory=lambda: [0])
    epochs: int = 10
    min_steps: int = 0
    batch_size: int = 64
    negatives: int = 64
    owner_fraction: float = 0.7  # captioned protocol
    tagged_fraction: float = 0.2  # tagged protocol
    names: dict[str, str] = field(default_factory=dict)  # tag → made-up personal name
    rerank: bool = False
    gate: bool = True  # False: keep the best epoch anyway, to see what the gate rejected


def read_table(csv_path: Path, column: str) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    with open(csv_path, encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            table.setdefault(row["image"], []).append(row[column])
    return table


def indexed_base(work: Path, folders: list[Path], make_library) -> Path:
    """Index the folders once; every run starts from a copy of this data dir."""
    base = work / "base-data"
    lib = make_library(base)
    lib.index(folders)
    lib.close()
    return base


def fresh_copy(base: Path, run: Path, make_library) -> PhotoLibrary:
    """A library on a fresh copy of the indexed ``base`` data dir: every run starts equal."""
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(base, run)
    return make_library(run)


def _add_texts(lib: PhotoLibrary, texts: dict[Path, list[tuple[str, str]]]) -> None:
    with lib.catalog.transaction() as db:
        for path, items in texts.items():
            row = lib.catalog.photo_by_path(path)
            lib.catalog.add_texts(db, row.id, [TextItem(kind, text, "eval", str(path))
                                               for kind, text in items])


def known_variant(name: str) -> bool:
    return name == BUTTON or name.removesuffix("+rerank") in VARIANTS


def _adapt(lib: PhotoLibrary, variant: str, settings: EvalSettings, seed: int) -> dict:
    if variant == BUTTON:
        result = adaptation.adapt(lib, seed=seed)
        return {**_summary(result), "kept_variant": result.variant if result.kept else None,
                "compared": (result.adaptation.meta.get("compared")
                             if result.kept and result.adaptation is not None else None)}
    rerank = variant.endswith("+rerank")
    config = VARIANTS[variant.removesuffix("+rerank")]
    if config is None and not rerank:
        return {"kept": None, "seconds": 0.0, "trainable_params": 0}
    if config is None:  # the reranker on the zero-shot model
        from photofind.adapt.data import build_data

        ids = sorted(lib.vectors.ids)
        data = build_data(lib.catalog.all_texts(), ids, seed=seed)
        info = adaptation.teach_reranker(lib, data, lib.data_dir / "adapt-eval", seed,
                                         time_budget_s=None)
        return {"kept": None, "seconds": info.get("seconds", 0.0), "trainable_params": 0,
                "rerank": info}
    config = replace(config, epochs=settings.epochs, batch_size=settings.batch_size,
                     negatives=settings.negatives, min_steps=settings.min_steps,
                     gate=settings.gate)
    result = adaptation.adapt(lib, (config,), seed=seed, rerank=rerank,
                              rerank_budget_s=None)  # no time budgets: machine-independent
    return _summary(result)


def _summary(result) -> dict:
    return {"kept": result.kept, "gate_kept": result.gate_kept, "verdict": result.verdict,
            "seconds": result.seconds, "rerank": result.rerank,
            "trainable_params": result.trainable_params,
            "trainable_share_percent": round(100 * result.share, 4),
            "seconds_per_epoch": result.seconds_per_epoch,
            "val_before": _strip(result.before), "val_after": _strip(result.after)}


def _strip(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "per_query"}


def rankings(lib: PhotoLibrary, queries: list[str]) -> np.ndarray:
    """Every photo ranked for every query by the live HNSW index (photo ids, best first),
    in the direction the app searches (a tag's name joined by its photos' sign); through the
    app's search path (top 50 re-ranked) when a reranker is active."""
    size = len(lib.vectors)
    everyone = np.fromiter(sorted(lib.vectors.ids), dtype=np.int64)
    every_vector = lib.vectors.vectors(everyone)
    rows = []
    for query, vector in zip(queries, lib.embedder.encode_texts(queries)):
        vector = lib.engine.with_examples(query, vector)  # as search: a tag's sign
        if lib.reranker is not None and lib.reranker.active:
            row = [r.photo.id for r in lib.search(query, k=size, hybrid=False)]
        else:
            row = [pid for pid, _ in lib.vectors.search(vector, size)]
        rows.append(completed_ranking(row, vector, everyone, every_vector))
    return np.asarray(rows)


def completed_ranking(row: list[int], vector: np.ndarray, ids: np.ndarray,
               vectors: np.ndarray) -> list[int]:
    """Asked for every photo, HNSW may not reach them all (hnswlib then finds fewer than k
    and the index returns what it found): the photos it missed follow, by exact cosine, so
    each query still ranks the whole library."""
    if len(row) == len(ids):
        return row
    seen = set(row)
    missing = np.asarray([pid for pid in ids.tolist() if pid not in seen], dtype=np.int64)
    scores = vectors[np.isin(ids, missing)] @ vector
    return row + missing[np.argsort(-scores, kind="stable")].tolist()


def owner_split(photos: list[str], seed: int, fraction: float) -> tuple[list, list]:
    """The captioned protocol's seeded split: (the owner's captioned photos, held out)."""
    order = photos[:]
    random.Random(seed).shuffle(order)
    cut = int(fraction * len(order))
    return order[:cut], order[cut:]


def add_captions(lib: PhotoLibrary, folder: Path, table: dict[str, list[str]],
                 photos: list[str]) -> None:
    """The photos' captions enter the catalog as if read from their metadata."""
    _add_texts(lib, {folder / p: [("caption", c) for c in table[p]] for p in photos})


def caption_ranks(lib: PhotoLibrary, folder: Path, table: dict[str, list[str]],
                  held_out: list[str]) -> np.ndarray:
    """For every caption of every held-out photo, that photo's rank (1 = first)."""
    queries = [(c, folder / p) for p in held_out for c in table[p]]
    ids = {str(folder / p): lib.catalog.photo_by_path(folder / p).id for p in held_out}
    ranked = rankings(lib, [q for q, _ in queries])
    return np.array([int(np.flatnonzero(row == ids[str(path)])[0]) + 1
                     for row, (_, path) in zip(ranked, queries)])


def captioned(folder: Path, captions_csv: Path, work: Path, make_library,
              settings: EvalSettings, on_row=None) -> list[dict]:
    table = read_table(captions_csv, "caption")
    photos = sorted(p for p in table if (folder / p).exists())
    base = indexed_base(work, [folder], make_library)
    rows = []
    for seed in settings.seeds:
        owner, held_out = owner_split(photos, seed, settings.owner_fraction)
        for variant in settings.variants:
            lib = fresh_copy(base, work / "run", make_library)
            add_captions(lib, folder, table, owner)
            started = time.monotonic()
            info = _adapt(lib, variant, settings, seed)
            adapt_wall_s = round(time.monotonic() - started, 1)
            ranks = caption_ranks(lib, folder, table, held_out)
            rows.append({"protocol": "captioned", "variant": variant, "seed": seed,
                         "R@1": _pct(ranks <= 1), "R@5": _pct(ranks <= 5),
                         "R@10": _pct(ranks <= 10), "median_rank": float(np.median(ranks)),
                         "queries": len(ranks), "gallery": len(lib.vectors),
                         "wall_s": round(time.monotonic() - started, 1),
                         "adapt_wall_s": adapt_wall_s, **info})
            lib.close()
            if on_row:
                on_row(rows)
    return rows


def tagged(folder: Path, tags_csv: Path, work: Path, make_library, settings: EvalSettings,
           distractors: Path | None = None, on_row=None) -> list[dict]:
    table = {p: v[0] for p, v in read_table(tags_csv, "tags").items() if (folder / p).exists()}
    base = indexed_base(work, [folder] + ([distractors] if distractors else []), make_library)
    conditions = [("as written", {})] + ([("made-up names", settings.names)]
                                         if settings.names else [])
    rows = []
    for seed in settings.seeds:
        rng = random.Random(seed)
        owned = []
        for tag in sorted(set(table.values())):
            members = sorted(p for p, t in table.items() if t == tag)
            rng.shuffle(members)
            owned += members[: max(1, int(settings.tagged_fraction * len(members)))]
        owned_set = set(owned)
        for condition, names in conditions:
            for variant in settings.variants:
                lib = fresh_copy(base, work / "run", make_library)
                _add_texts(lib, {folder / p: [("tag", names.get(table[p], table[p]))]
                                 for p in owned})
                started = time.monotonic()
                info = _adapt(lib, variant, settings, seed)
                adapt_wall_s = round(time.monotonic() - started, 1)
                rows.append({"protocol": "tagged", "condition": condition, "variant": variant,
                             "seed": seed, **_tag_metrics(lib, folder, table, owned_set, names),
                             "wall_s": round(time.monotonic() - started, 1),
                             "adapt_wall_s": adapt_wall_s, **info})
                lib.close()
                if on_row:
                    on_row(rows)
    return rows


def _tag_metrics(lib, folder, table, owned, names) -> dict:
    ids = {p: lib.catalog.photo_by_path(folder / p).id for p in table}
    tagged_ids = {ids[p] for p in owned}
    flower_ids = set(ids.values()) - tagged_ids
    kinds = sorted(set(table.values()))
    out = {}
    for style, template in (("word", "{}"), ("template", QUERY_TEMPLATE)):
        queries = [template.format(names.get(kind, kind)) for kind in kinds]
        ranked = rankings(lib, queries)
        aps, aps_clean, p10 = [], [], []
        for kind, row in zip(kinds, ranked):
            relevant = {ids[p] for p, t in table.items() if t == kind} - tagged_ids
            untagged = [pid for pid in row.tolist() if pid not in tagged_ids]
            aps.append(_ap(untagged, relevant))
            aps_clean.append(_ap([pid for pid in untagged if pid in flower_ids], relevant))
            p10.append(np.mean([pid in relevant for pid in untagged[:10]]))
        out[f"mAP_{style}"] = _pct(np.asarray(aps))
        out[f"mAP_{style}_no_distractors"] = _pct(np.asarray(aps_clean))
        out[f"P@10_{style}"] = _pct(np.asarray(p10))
    return out


def _ap(ranking: list[int], relevant: set[int]) -> float:
    hits = np.isin(np.asarray(ranking), list(relevant))
    positions = np.flatnonzero(hits) + 1
    return float(np.mean(np.arange(1, len(positions) + 1) / positions)) if len(positions) else 0.0


def _pct(values: np.ndarray) -> float:
    return round(100 * float(np.mean(values)), 2)


def summarise(rows: list[dict], keys: list[str]) -> list[dict]:
    """Mean and spread over seeds for each (protocol, condition, variant)."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["protocol"], row.get("condition", ""), row["variant"]),
                          []).append(row)
    summary = []
    for (protocol, condition, variant), members in groups.items():
        entry = {"protocol": protocol, "condition": condition, "variant": variant,
                 "seeds": len(members)}
        for key in keys + ["seconds", "adapt_wall_s", "trainable_params"]:
            values = [m[key] for m in members if isinstance(m.get(key), (int, float))]
            if values:
                entry[key] = round(float(np.mean(values)), 2)
                entry[f"{key}_sd"] = round(float(np.std(values)), 2)
        entry["kept"] = [m.get("kept") for m in members]
        summary.append(entry)
    return summary


def markdown(summary: list[dict], keys: list[str]) -> str:
    head = "| protocol | condition | variant | " + " | ".join(keys) + " | adapt s (wall) | kept |"
    lines = [head, "|" + "---|" * (len(keys) + 5)]
    for e in summary:
        cells = [f"{e[k]:.1f} ± {e[k + '_sd']:.1f}" if k in e else "–" for k in keys]
        lines.append(f"| {e['protocol']} | {e['condition']} | {e['variant']} | " +
                     " | ".join(cells) + f" | {e.get('adapt_wall_s', 0):.0f} | {e['kept']} |")
    return "\n".join(lines)


def chart(summary: list[dict], keys: list[str], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    labels = [" · ".join(filter(None, (e["condition"], e["variant"]))) for e in summary]
    fig, ax = plt.subplots(figsize=(max(6, len(labels) * 1.3), 4.5))
    width = 0.8 / len(keys)
    for i, key in enumerate(keys):
        ax.bar(np.arange(len(labels)) + i * width, [e.get(key, 0) for e in summary], width,
               yerr=[e.get(f"{key}_sd", 0) for e in summary], label=key)
    ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2, labels, rotation=45, ha="right")
    ax.legend(loc="upper left", bbox_to_anchor=(1, 1))
    ax.set_ylabel("%")
    ax.set_title(f"{summary[0]['protocol']} library, mean ± sd over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return True
