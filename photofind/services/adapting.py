"""Adaptation as a library operation: train, re-embed beside the old index, swap, reset.

The zero-shot embeddings stay in the catalog, so going back to zero-shot is instant, and the
adapted ones are written under their own model key: until the new index is complete the old
one keeps serving, and a cancelled or failed run changes nothing the user sees.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from photofind.adapt.data import build_data, usable_counts
from photofind.adapt.judging import half, held_back_texts, judge
from photofind.adapt.prompts import is_vit
from photofind.adapt.report import AdaptProgress, AdaptResult
from photofind.adapt.store import Adaptation, AdaptConfig
from photofind.adapt.trainer import PromptTrainer
from photofind.index.hnsw import VectorIndex
from photofind.library import heap
from photofind.services import artefacts

# What "Adapt to my library" compares, cheapest and most often best first; a later variant
# replaces an earlier one only when clearly better (``clearly_better``). The budgets add up
# to 270 s of training so that a whole run on 1,000 captioned photos stays within 300 s on
# 2 CPU cores (re-embedding after a kept visual prompt comes on top); a GPU never reaches
# them. The residual adapter (a head on the stored photo vectors) costs seconds an epoch
# and was the best single variant on the tagged bench library (3 seeds: mAP 81.1 with the
# tags as written, 77.7 with made-up names, against 77.9 / 75.1 for the button when concept
# words trained beside it). Concept words for tags the model does not find go with the
# prompts, which get the larger share of time as they run through the towers. The adapter
# trains against 64 unlabelled photos a step, not 128: with 128 the eval's adapter scored
# what the button did (tagged, seeds 0 and 1: 81.6 and 77.5 against 83.4 and 78.2 with 64;
# untagged photos of a tagged kind are among them, pushed away as if they were wrong).
DEFAULT_VARIANTS = (AdaptConfig(text=False, visual=False, adapter=True, min_steps=200,
                                negatives=64, concept_min_photos=0, time_budget_s=60),
                    AdaptConfig(text=True, visual=True, min_steps=200, time_budget_s=120))
RERANK_BUDGET_S = 90


def default_variants(model) -> tuple[AdaptConfig, ...]:
    """What the button compares on this model. A tower without ViT blocks can only take a
    learned pixel border as its visual prompt, which needs the whole tower per photo and
    step and never won (bench model: kept on 0 of 3 captioned seeds; tagged, alone +0.8 mAP
    and with text prompts 29-39 against text alone 67-69): there the first variant trains
    text prompts alone."""
    if is_vit(model.visual):
        return DEFAULT_VARIANTS
    return tuple(replace(v, visual=False) for v in DEFAULT_VARIANTS)


def budgets(variants=None, rerank: bool = True,
            rerank_budget_s: float | None = RERANK_BUDGET_S) -> list[float | None]:
    """Each variant's time budget in the order they run, then the reranker's (if on)."""
    found = [v.time_budget_s for v in (DEFAULT_VARIANTS if variants is None else variants)]
    return found + [rerank_budget_s] if rerank else found


def planned_seconds(variants=None, rerank: bool = True,
                    rerank_budget_s: float | None = RERANK_BUDGET_S) -> float | None:
    """The run's time budgets added up: what a run on a CPU takes (re-embedding aside),
    so the app can say how long it will be before the pace is known. None: no budget."""
    found = budgets(variants, rerank, rerank_budget_s)
    return None if None in found else float(sum(found))


def adaptation_dir(lib, base_key: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", base_key).strip("-")
    return lib.data_dir / "adapt" / slug


def load_active(lib, embedder):
    """The embedder the library should use: adapted if an adaptation is active."""
    fallback = "searching with the base model (adapt again to retrain)"
    path = artefacts.usable(lib, artefacts.ADAPTATION, embedder.base_key, fallback)
    if path is None:
        return embedder
    try:
        adaptation = Adaptation.load(path, embedder.model, embedder.loaded.tokenizer,
                                     embedder.prep.size, embedder.dim).to(embedder.device)
    except Exception as error:  # noqa: BLE001 - an old, damaged or foreign file
        artefacts.warn(lib, f"the adaptation in {path.name} cannot be loaded ({error}); "
                            f"{fallback}")
        return embedder
    forget_removed_concepts(lib, adaptation)
    return embedder.adapted(adaptation)


def forget_removed_concepts(lib, adaptation) -> None:
    """A concept whose tag is gone from every photo stops answering queries."""
    if adaptation.text is None or not adaptation.config.concepts:
        return
    tags = {text.casefold() for _, kind, text, _ in lib.catalog.all_texts(("tag", "person"))}
    for key, names in list(adaptation.config.concepts.items()):
        if names[0].casefold() not in tags:
            adaptation.text.vocabulary.remove(key)
            del adaptation.config.concepts[key]


def concepts(lib) -> list[dict]:
    """The active adaptation's concepts with their validation numbers and their ``key``
    (what ``drop_concepts`` takes)."""
    adaptation = lib.embedder.adaptation
    if adaptation is None:
        return []
    report = adaptation.meta.get("concepts", {})
    return [{"key": key, **{k: v for k, v in report[key].items() if k != "prototype"}}
            for key in adaptation.config.concepts if key in report]


def drop_concepts(lib, keys) -> list[str]:
    """Stop using these personal concepts for good (the person unticked them) and return
    their names; unknown keys are ignored. A concept is a word on the text side only, so the
    photos keep their embeddings and index: the saved adaptation is rewritten without it
    (each file written beside itself, then swapped in) and reloaded, and a query with the
    name is read by the plain text tower again. When nothing learned is left, the library
    goes back to the plain model (its re-ranker, trained for the same key, stays)."""
    with lib.writing("dropping personal concepts"):
        return _drop_concepts(lib, keys)


def _drop_concepts(lib, keys) -> list[str]:
    base = lib.embedder.adapted(None)
    path = artefacts.locate(lib, artefacts.ADAPTATION, base.key)
    if lib.embedder.adaptation is None or path is None:
        return []
    # from the file, not the live copy: that one hides concepts whose tag is gone for now
    adaptation = Adaptation.load(path, base.model, base.loaded.tokenizer, base.prep.size,
                                 base.dim)
    dropped = adaptation.remove_concepts(keys)
    if not dropped:
        return []
    if adaptation.text is None and not adaptation.touches_images:
        artefacts.remember(lib, artefacts.ADAPTATION, base.key, None)
        lib.embedder = base
        path.unlink(missing_ok=True)
        path.with_suffix(".json").unlink(missing_ok=True)
    else:
        adaptation.save(path)
        lib.embedder = load_active(lib, base)
    return dropped


def usable(lib) -> dict[str, int]:
    """How many photos could teach adaptation (shown before starting it)."""
    return usable_counts(lib.catalog.all_texts(), lib.catalog.readable_ids())


def adapt(lib, variants=None, progress: Callable[[AdaptProgress], None] | None = None,
          cancel=None, seed: int = 0, rerank: bool = True,
          rerank_budget_s: float | None = RERANK_BUDGET_S) -> AdaptResult:
    """Train each variant, keep the best that beats zero-shot on validation, re-embed; then
    teach the reranker on the same pairs (kept only if it helps on validation). Holds the
    library (``LibraryState.writing``) throughout. ``variants``: the button's by default."""
    with lib.writing("adapting", cancel):
        return _adapt(lib, variants, progress, cancel, seed, rerank, rerank_budget_s)


def reranker_judgeable(lib, seed: int = 0) -> bool:
    """Whether a run with this ``seed`` would teach the reranker: its held-back captions and
    tags must be enough to choose its weights on some and judge them on others (see
    ``rerank_train.unjudgeable``); where they are not, the run is its budget shorter."""
    if lib.tokens is None:  # no token grids from this image tower: no reranker at all
        return False
    try:
        data = _training_data(lib, lib.embedder.base_key, seed)
    except ValueError:  # nothing indexed, or too few labelled photos to adapt at all
        return False
    _, names, _, judge_rows = held_back_texts(data, seed)
    return len(judge_rows) < len(names)


def _training_data(lib, base_key: str, seed: int):
    ids = sorted(lib.catalog.embedded_ids(base_key))
    if not ids:
        raise ValueError("Index some photos before adapting.")
    return build_data(lib.catalog.all_texts(), ids, seed=seed)


def _adapt(lib, variants, progress, cancel, seed, rerank, rerank_budget_s) -> AdaptResult:
    base = lib.embedder.adapted(None)
    data = _training_data(lib, base.key, seed)
    variants = default_variants(base.model) if variants is None else variants
    workdir = adaptation_dir(lib, base.key)
    best: AdaptResult | None = None
    results = []
    for part, variant in enumerate(variants):
        config = replace(variant, seed=seed)
        told = None if progress is None else \
            (lambda report, part=part: progress(replace(report, part=part, parts=len(variants))))
        trainer = PromptTrainer(
            base.model, base.loaded.tokenizer, data, config,
            zero_shot=lambda chunk: lib.catalog.embeddings(base.key, chunk)[1],
            pixels=lambda chunk: _pixels(lib, base, chunk), image_size=base.prep.size,
            workdir=workdir / config.variant.replace("+", "_"), progress=told,
            cancel=cancel)
        with heap.pooled_big_blocks():  # torch trains: see photofind.library.heap
            result = trainer.run()
        results.append(result)
        if result.cancelled:
            return result
        if result.kept and (best is None or clearly_better(best, result, seed)):
            best = result
    if best is None:
        best = max(results, key=lambda r: r.after["score"])  # nothing beat zero-shot
    else:
        best.adaptation.meta["compared"] = {r.variant: _plain(r.after) for r in results}
        path = workdir / f"{best.variant.replace('+', '_')}.safetensors"
        best.adaptation.save(path)
        activate(lib, base, path, progress, cancel)
    if rerank and not (cancel is not None and cancel.cancelled):
        best.rerank = teach_reranker(lib, data, workdir, seed, progress, cancel,
                                     rerank_budget_s)
    return best


def clearly_better(kept: AdaptResult, challenger: AdaptResult, seed: int = 0) -> bool:
    """Whether a later variant should replace one already kept: by the same gate that let
    the first replace the plain model, on the same half of the validation queries (the half
    that chose neither's best round). A higher score alone
    let a handful of tag queries pick text prompts over the adapter (tagged bench library,
    made-up names, seed 1: 67.7 held-out mAP against the adapter's 75.9)."""
    if kept.items is None or challenger.items is None:
        return challenger.after["score"] > kept.after["score"]
    return judge(half({**kept.after, "per_item": kept.items}, "judge", seed),
                 half({**challenger.after, "per_item": challenger.items}, "judge", seed),
                 seed).kept


def teach_reranker(lib, data, workdir: Path, seed: int, progress=None, cancel=None,
                   time_budget_s: float | None = RERANK_BUDGET_S) -> dict:
    from photofind.adapt.rerank_train import train_reranker, unjudgeable

    def report(epoch, epochs, loss):
        if progress:
            progress(AdaptProgress("reranker", epoch, epochs, loss=loss))

    started = time.monotonic()
    if lib.tokens is not None and (why := unjudgeable(lib, data, seed)) is not None:
        return {"kept": False, **why, "seconds": round(time.monotonic() - started, 1)}
    with heap.pooled_big_blocks():  # torch trains: see photofind.library.heap
        reranker = train_reranker(lib, data, seed=seed, progress=report, cancel=cancel,
                                  time_budget_s=time_budget_s)
    if reranker is None:
        return {"kept": False}
    summary = {"kept": reranker.active, "weight": reranker.weight,
               "neighbour_weight": reranker.neighbour_weight,
               "before": reranker.meta["before"], "after": reranker.meta["after"],
               "verdict": reranker.meta.get("verdict"), "seconds": reranker.meta["seconds"],
               "too_few": reranker.meta.get("too_few", False),
               "held_back": reranker.meta.get("held_back")}
    if reranker.active:
        slug = re.sub(r"[^A-Za-z0-9]+", "-", lib.model_key).strip("-")[-40:]
        path = workdir / f"rerank-{slug}.safetensors"
        reranker.save(path)
        artefacts.remember(lib, artefacts.RERANK, lib.model_key, path)
        lib.embedder = lib.embedder  # reload index/tokens/reranker for the current key
    return summary


def _plain(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "per_query"}


def activate(lib, base, path: Path, progress=None, cancel=None) -> None:
    """Re-embed with the adaptation's image side into a new index, then switch to it."""
    adaptation = Adaptation.load(path, base.model, base.loaded.tokenizer, base.prep.size,
                                 base.dim).to(base.device)
    adapted = base.adapted(adaptation)
    if adaptation.touches_images:
        _reembed(lib, base, adapted, progress, cancel)
        if cancel is not None and cancel.cancelled:
            return
    artefacts.remember(lib, artefacts.ADAPTATION, base.key, path)
    lib.embedder = adapted


def reset(lib) -> None:
    """Back to zero-shot: drop the adaptation, its embeddings and its index."""
    with lib.writing("going back to the base model"):
        _reset(lib)


def _reset(lib) -> None:
    base = lib.embedder.adapted(None)
    adapted_key = lib.embedder.key
    artefacts.remember(lib, artefacts.ADAPTATION, base.key, None)
    for key in {adapted_key, base.key}:
        artefacts.remember(lib, artefacts.RERANK, key, None)
    lib.embedder = base
    if adapted_key != base.key:
        lib.catalog.drop_model(adapted_key)
    shutil.rmtree(adaptation_dir(lib, base.key), ignore_errors=True)


def _reembed(lib, base, adapted, progress, cancel) -> None:
    ids, vectors = lib.catalog.embeddings(base.key)
    done = set(lib.catalog.embedded_ids(adapted.key))
    todo = [int(i) for i in ids if int(i) not in done]
    if adapted.adaptation.visual is None:  # residual adapter: from stored embeddings
        import torch

        with torch.no_grad():
            new = adapted.adaptation.adapter(torch.from_numpy(vectors).to(base.device))
            new = torch.nn.functional.normalize(new, dim=-1).cpu().numpy()
        _store(lib, adapted.key, ids.tolist(), new)
    else:
        from photofind.index.tokens import TokenStore

        token_store = TokenStore(lib.data_dir / "tokens", adapted.token_key, base.dim)
        batch_ids, batch = [], []
        for count, (photo_id, array) in enumerate(_pixels(lib, base, todo), 1):
            batch_ids.append(photo_id)
            batch.append(array)
            if len(batch) == lib.batch_size or count == len(todo):
                vectors, tokens = adapted.encode_images(np.stack(batch), with_tokens=True)
                _store(lib, adapted.key, batch_ids, vectors)
                if tokens is not None:
                    token_store.put(batch_ids, tokens)
                batch_ids, batch = [], []
                if progress:
                    progress(AdaptProgress("re-embedding", step=count, steps=len(todo)))
                if cancel is not None and cancel.cancelled:
                    return
        token_store.flush()
    ids, vectors = lib.catalog.embeddings(adapted.key)
    index = VectorIndex.build(ids, vectors, vectors.shape[1], lib.hnsw)
    path = lib.index_file(adapted.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    index.save(path, {"model_key": adapted.key, "version": lib.catalog.embedding_version()})


def _store(lib, key: str, ids: list[int], vectors: np.ndarray) -> None:
    with lib.catalog.transaction() as db:
        for photo_id, vector in zip(ids, vectors):
            lib.catalog.set_embedding(db, photo_id, key, vector)


def _pixels(lib, embedder, ids: list[int]):
    """(photo id, model-ready array) for catalog photos, decoded in the worker pool."""
    rows = {row.raw_path: row.id for row in
            (lib.catalog.photo(i) for i in ids) if row is not None}
    for prepared in lib.prepared(list(rows), embedder):
        if prepared.array is not None:
            yield rows[prepared.raw_path], prepared.array


