"""Teach the reranker inside "Adapt to my library": the same (photo, caption/tag) pairs, hard
negatives mined from the bi-encoder's own top-k, fusion weight picked on validation."""

from __future__ import annotations

import random
import time

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from photofind.adapt.data import QUERY_TEMPLATE, AdaptationData
from photofind.adapt.trainer import retrieval_metrics, validation_gallery
from photofind.search.rerank import (
    DEFAULT_TOP_K,
    WEIGHTS,
    CrossEncoder,
    Reranker,
    nce_loss,
    rerank,
)


def _texts(photos) -> dict[str, set[int]]:
    """Each caption or templated tag → the photos it describes."""
    texts: dict[str, set[int]] = {}
    for photo, captions in photos.captions.items():
        for caption in captions:
            texts.setdefault(caption, set()).add(photo)
    for tag, members in photos.tag_members().items():
        texts.setdefault(QUERY_TEMPLATE.format(tag), set()).update(members)
    return texts


def _encode(embedder, texts: list[str]):
    vectors, tokens = [], []
    for start in range(0, len(texts), 128):
        v, t, m = embedder.text_tokens(texts[start:start + 128])
        vectors.append(v)
        tokens += [row[mask] for row, mask in zip(t, m)]
    return np.concatenate(vectors), tokens


def _batch(token_list):
    padded = pad_sequence(token_list, batch_first=True)
    mask = pad_sequence([torch.ones(len(t), dtype=torch.bool) for t in token_list],
                        batch_first=True)
    return padded, mask


def train_reranker(lib, data: AdaptationData, epochs: int = 3, negatives: int = 15,
                   batch_size: int = 32, lr: float = 1e-3, seed: int = 0,
                   max_pool: int = 3000, max_texts: int = 1200, progress=None,
                   cancel=None, time_budget_s: float | None = None) -> Reranker | None:
    """Train the head; with ``time_budget_s``, stop after the last epoch that fits."""
    embedder, store = lib.embedder, lib.tokens
    if store is None:
        return None
    started = time.monotonic()
    rng = random.Random(seed)
    torch.manual_seed(seed)
    # Negatives come from the training photos only: a head that also saw unlabelled photos
    # as negatives learns "uncaptioned = wrong", and uncaptioned photos are what people search.
    train = _texts(data.train)
    names = sorted(train)
    if len(names) > max_texts:  # bounded cost on CPU: a sample of the library's texts
        names = sorted(rng.sample(names, max_texts))
    pool = data.train.photo_ids[:]
    rng.shuffle(pool)
    pool = sorted(set(pool[:max_pool]).union(*(train[name] for name in names)))
    pool_ids, pool_vectors = lib.catalog.embeddings(lib.model_key, pool)
    vectors, tokens = _encode(embedder, names)
    top = np.argsort(-(vectors @ pool_vectors.T), axis=1)[:, :DEFAULT_TOP_K]
    examples = []
    for i, name in enumerate(names):  # hard negatives: what the bi-encoder ranks high
        hard = [int(pool_ids[j]) for j in top[i] if int(pool_ids[j]) not in train[name]]
        if hard:
            examples.append((i, sorted(train[name]), hard[:negatives]))
    head = CrossEncoder(pool_vectors.shape[1])
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=0.01)
    row = {int(pid): i for i, pid in enumerate(pool_ids)}
    scale = float(lib.embedder.model.logit_scale.exp().clamp(max=100))
    losses, epochs_run = [], 0
    for epoch in range(epochs):
        if epoch and time_budget_s and (time.monotonic() - started) * (epoch + 1) / epoch > \
                time_budget_s:
            break  # another epoch would overrun the budget
        rng.shuffle(examples)
        head.train()
        for start in range(0, len(examples), batch_size):
            if cancel is not None and cancel.cancelled:
                return None
            chunk = examples[start:start + batch_size]
            text, mask = _batch([tokens[i] for i, _, _ in chunk])
            photos = [[rng.choice(pos)] + hard + [hard[-1]] * (negatives - len(hard))
                      for _, pos, hard in chunk]
            image, _ = store.get(np.asarray(photos).ravel())
            n = negatives + 1
            cross = head(text.repeat_interleave(n, 0), mask.repeat_interleave(n, 0),
                         torch.from_numpy(image.astype(np.float32))).view(len(chunk), n)
            cosine = np.stack([pool_vectors[[row[p] for p in candidates]] @ vectors[i]
                               for (i, _, _), candidates in zip(chunk, photos)])
            # the head learns a correction to the bi-encoder: its score at fusion weight 1
            loss = nce_loss(scale * (torch.from_numpy(cosine) + cross))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if progress:
                progress(epoch + 1, epochs, loss.item())
        epochs_run = epoch + 1
    reranker = Reranker(head, 0.0, {"losses": [round(v, 4) for v in losses]})
    weight, before, after = choose_weight(lib, reranker, data, seed)
    reranker.weight = weight
    reranker.meta.update({"before": before, "after": after, "seconds":
                          round(time.monotonic() - started, 1), "train_texts": len(names),
                          "epochs": epochs_run,
                          "model_key": lib.model_key})
    return reranker


def choose_weight(lib, reranker: Reranker, data: AdaptationData, seed: int
                  ) -> tuple[float, dict, dict]:
    """The fusion weight with the best validation score (0 = rerank off)."""
    gallery = validation_gallery(data, 3000, seed)
    ids, gallery_vectors = lib.catalog.embeddings(lib.model_key, gallery)
    queries = _texts(data.val)
    names = sorted(queries)
    vectors, tokens = _encode(lib.embedder, names)
    similarity = vectors @ gallery_vectors.T
    top = np.argsort(-similarity, axis=1)[:, :DEFAULT_TOP_K]
    cross = []
    for i in range(len(names)):
        image, _ = lib.tokens.get(ids[top[i]])
        text, mask = _batch([tokens[i]])
        cross.append(reranker.scores(text, mask, image))
    gallery_ids = ids.tolist()
    position = {pid: j for j, pid in enumerate(gallery_ids)}
    relevant = [queries[name] for name in names]
    results = {}
    for weight in WEIGHTS:
        fused = similarity.copy()
        for i in range(len(names)):  # rerank moves only the retrieved top-k
            hits = [(int(ids[j]), float(similarity[i, j])) for j in top[i]]
            order = rerank(hits, cross[i], weight)
            base = similarity[i].max() + 1
            for rank, (pid, _, _) in enumerate(order):
                fused[i, position[pid]] = base + (len(order) - rank)
        results[weight] = retrieval_metrics(fused, gallery_ids, relevant)
    best = max(WEIGHTS, key=lambda w: (results[w]["score"], -w))
    strip = {k: v for k, v in results[0.0].items() if k != "per_query"}
    return best, strip, {k: v for k, v in results[best].items() if k != "per_query"}
