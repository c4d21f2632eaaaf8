"""Answer a query: a text (with the sign of the photos carrying a tag it names) or an example
photo through the vector index, fused with caption, tag and text-in-photo matches (a quoted
phrase must be in one of them), re-scored by a trained reranker, narrowed by filters; or,
with filters alone, the matching photos newest first. Either can be put in another order: by
date taken or file name (the catalog's ``ORDERS``)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from photofind.library.catalog import PhotoRow
from photofind.library.decode import PhotoError, open_photo, to_model_array
from photofind.search import examples
from photofind.search import terms as query_terms
from photofind.search.filters import SearchFilters
from photofind.search.hybrid import DEFAULT_TOP_K, fts_query, fuse
from photofind.search.hybrid import rerank as rerank_hits
from photofind.search.phrases import photos_with_phrase, phrase_terms
from photofind.search.relevance import relevances
from photofind.services.state import Service


@dataclass
class SearchResult:
    photo: PhotoRow
    score: float | None  # cosine similarity; None when listing by filters alone
    text_match: bool = False  # a caption or tag matched the query words
    rerank_score: float | None = None  # what reranking added to the cosine, when it ran
    offline: bool = False  # in a folder that is not there now (an unplugged drive)
    relevance: int | None = None  # 0-100, following the order (search/relevance.py)

    @property
    def path(self) -> str:
        return self.photo.path

    def as_dict(self) -> dict:
        row = asdict(self.photo)
        row.pop("raw_path")
        score = None if self.score is None else round(self.score, 6)
        return {"path": self.path, "score": score, "relevance": self.relevance,
                "text_match": self.text_match, "rerank_score": self.rerank_score,
                "offline": self.offline, **row}


class Results(list):
    """Search results, best first, and how many photos carry the tag the query named, whose
    photos' sign it also searched along (``tag_photos``; 0: none), so a face can say why
    photos without those words were found."""

    def __init__(self, results=(), tag_photos: int = 0):
        super().__init__(results)
        self.tag_photos = tag_photos


def _words(terms: list[query_terms.Term], positive: bool) -> str:
    """The words of a query's positive (or negative) text terms, for caption matching."""
    return " ".join(t.text for t in terms if t.text is not None and (t.weight > 0) == positive)


class SearchEngine(Service):
    def search(self, text: str | None = None, image: str | os.PathLike | None = None,
               k: int = 20, min_score: float | None = None,
               filters: SearchFilters | None = None, hybrid: bool = True,
               rerank: bool = True, order: str | None = None) -> list[SearchResult]:
        """Text or image query → top-k photos, best first. Text queries also match captions
        and tags (fused by rank) unless ``hybrid`` is off, and a query that is a tag's name
        also searches along the sign of the tag's photos; a trained reranker re-scores the
        top 50 unless ``rerank`` is off; filters narrow any query, and with no query list
        the matching photos newest first. An ``order`` ("newest", "oldest", "name") shows
        the top-k in that order instead: the ranking picks the photos, not their order.
        A searched query answers ``Results`` (a list that also says ``tag_photos``)."""
        filters = filters or SearchFilters()
        has_text = bool(text and text.strip())
        if image is None and not has_text:
            if not filters.active():
                raise ValueError("Give a text query, an image, or a filter.")
            return self._listed(filters, k, order or "newest")
        allowed = self._allowed_ids(filters)
        if not self.catalog.counts()["photos"]:
            raise ValueError("The library is empty: index a folder first (photofind index DIR).")
        terms = query_terms.parse(text) if has_text and image is None else []
        wanted, unwanted, terms = phrase_terms(terms)
        holding: set[int] = set()
        if wanted:  # "exit 12": only photos whose text, caption or tags hold the phrase
            holding = self._holding(wanted)
            allowed = holding if allowed is None else allowed & holding
        shunned = self._holding_any(unwanted)  # - "no entry": none holding it
        if shunned:
            allowed = (self.vectors.ids if allowed is None else allowed) - shunned
        combined = bool(terms) and not query_terms.is_plain(terms)
        if terms and not combined:
            text = terms[0].text
        if allowed is not None and not allowed:
            return []  # the filters leave nothing: no model, no rerank of zero candidates
        reranker = self.reranker if rerank and image is None and not combined else None
        if reranker is not None and reranker.active:
            vectors, text_tokens, text_mask = self.embedder.text_tokens([text.strip()])
            query = vectors[0]
        else:
            reranker = None
            query = self.image_vector(image) if image is not None else \
                self._combine(terms) if combined else \
                self.embedder.encode_texts([text.strip()])[0]
        # a tag's name also searches along its photos' sign (search/examples.py); which
        # hits look like them is judged by their mean look
        tagged = None if image is not None or combined else self.tag_examples(text)
        direction = query if tagged is None else tagged.direction(query)
        use_text = hybrid and has_text and image is None
        pool = max(k, 100) if use_text else k
        if reranker is not None:
            pool = max(pool, DEFAULT_TOP_K)
        hits = self.vectors.search(direction, pool, allowed.__contains__ if allowed is not None
                                   else None)
        cosine, cross, alike = dict(hits), {}, set()
        if tagged is not None and hits:
            # shown (and relevance, calibrated on words against photos): the words' own
            # cosines; the order, and what the reranker adds to, stay the hits'. Photos
            # that look like the tag's pass min_score as words that match do.
            ids = list(cosine)
            found = self.vectors.vectors(ids)
            cosine = dict(zip(ids, (found @ query).tolist()))
            alike = {pid for pid, yes in zip(ids, tagged.alike(found).tolist()) if yes}
        if reranker is not None and hits:
            top = hits[:DEFAULT_TOP_K]
            reordered = rerank_hits(top, reranker.bonus(
                text_tokens, text_mask, query, [pid for pid, _ in top],
                lambda ids: self.tokens.get(ids)[0], self.vectors.vectors))
            cross = {pid: c for pid, _, c in reordered}
            hits = [(pid, cos) for pid, cos, _ in reordered] + hits[DEFAULT_TOP_K:]
        ranked, matched = [pid for pid, _ in hits], set()
        fts = fts_query(_words(terms, positive=True)) if use_text else None
        if fts:
            live = self.vectors.ids  # a copy of the id set: once, not per match
            unwanted = self._text_matched(_words(terms, positive=False))
            text_ids = [pid for pid, _ in self.catalog.text_matches(fts, pool)
                        if (allowed is None or pid in allowed) and pid in live and
                        pid not in unwanted]
            matched = set(text_ids)
            for pid in matched - cosine.keys():
                cosine[pid] = float(self.vectors.vector(pid) @ query)
            ranked = fuse(ranked, text_ids)
        results = []
        for photo_id in ranked:
            if min_score is not None and cosine[photo_id] < min_score and \
                    photo_id not in matched and photo_id not in holding and \
                    photo_id not in alike:
                continue
            row = self.catalog.photo(photo_id)
            if row is not None:
                results.append(SearchResult(row, cosine[photo_id],
                                            photo_id in matched or photo_id in holding,
                                            cross.get(photo_id)))
            if len(results) == k:
                break
        # a photo that looks like a named tag's photos shows at least what matching words do
        vouched = [r.text_match or r.photo.id in alike for r in results]
        for result, shown in zip(results, relevances([r.score for r in results], vouched)):
            result.relevance = shown
        if order is not None:  # relevance stays that of each photo's rank among the matches
            found = {result.photo.id: result for result in results}
            results = [found[pid] for pid in self.catalog.in_order(found, order)]
        return Results(self._mark_offline(results), tagged.count if tagged is not None else 0)

    def tag_examples(self, text: str) -> examples.Examples | None:
        """The look and sign of the photos carrying the tag (or person) ``text`` names, when
        at least ``examples.MIN_EXAMPLES`` indexed photos do; told apart from photos with
        other tags and from the rest, both drawn from a spread sample of the library."""
        name = examples.tag_name(text)
        ids = self.catalog.tagged_ids(name) if name else []
        if len(ids) < examples.MIN_EXAMPLES:  # most queries name no tag: no id set copied
            return None
        live = self.vectors.ids
        ids = [pid for pid in ids if pid in live]
        if len(ids) < examples.MIN_EXAMPLES:
            return None
        sample = examples.spread(sorted(live - set(ids)), examples.SAMPLE)
        others = sorted(set(examples.spread(self.catalog.tagged_among(sample),
                                            examples.MAX_OTHERS)) |
                        set(examples.spread(sample, examples.MAX_OTHERS)))
        # the tagged photos from the index, as ``alike`` later judges the hits from it; the
        # ~1,000 others from the catalog (hnswlib hands out 512-d vectors at ~40 µs each,
        # SQLite at ~7), which may have fewer (a model reset by another process): then the
        # look alone serves
        stored = self.catalog.embeddings(self.model_key, others)[1] if others else None
        return examples.Examples.of(self.vectors.vectors(examples.spread(ids)), len(ids),
                                    stored if stored is not None and len(stored) else None)

    def with_examples(self, text: str, query: np.ndarray) -> np.ndarray:
        """The direction a plain text query searches in: ``query`` (the encoding of
        ``text``), joined by the sign of the photos carrying the tag ``text`` names."""
        tagged = self.tag_examples(text)
        return query if tagged is None else tagged.direction(query)

    def _combine(self, terms: list[query_terms.Term]) -> np.ndarray:
        """The direction of a combined query: its weighted terms summed (negative ones
        subtracted), as a unit vector."""
        texts = [term for term in terms if term.text is not None]
        total = np.zeros(self.embedder.dim, np.float32)
        if texts:
            vectors = self.embedder.encode_texts([term.text for term in texts])
            total += sum(term.weight * vector for term, vector in zip(texts, vectors))
        for term in terms:
            if term.image is not None:
                total += term.weight * self.image_vector(term.image)
        norm = float(np.linalg.norm(total))
        if norm < 1e-6:
            raise query_terms.QueryError("the query's terms cancel each other out")
        return total / norm

    def _with_phrase(self, phrase: str) -> set[int]:
        """Photos whose texts hold ``phrase`` (forgiving OCR's slips)."""
        return photos_with_phrase(phrase, self.catalog.vocabulary, self.catalog.texts_matching)

    def _holding(self, phrases: list[str]) -> set[int]:
        """Photos whose texts hold every quoted phrase."""
        return set.intersection(*map(self._with_phrase, phrases)) if phrases else set()

    def _holding_any(self, phrases: list[str]) -> set[int]:
        """Photos whose texts hold any of ``phrases``."""
        return set().union(*map(self._with_phrase, phrases))

    def _text_matched(self, words: str) -> set[int]:
        """Photos whose captions or tags hold any of ``words`` (a negative term's)."""
        fts = fts_query(words) if words else None
        return {pid for pid, _ in self.catalog.text_matches(fts, 100_000)} if fts else set()

    def _mark_offline(self, results: list[SearchResult]) -> list[SearchResult]:
        """Photos of an offline folder are still found (a person looks for the photo on the
        drive that is not plugged in), and say so."""
        offline = set(self.catalog.offline_roots())
        for result in results:
            result.offline = result.photo.root_id in offline
        return results

    def _allowed_ids(self, filters: SearchFilters) -> set[int] | None:
        """Photo ids a search may return, or None for "all" (the fast path)."""
        if not filters.active():
            return None
        return self.catalog.visible_ids(filters)

    def _listed(self, filters: SearchFilters, k: int, order: str) -> list[SearchResult]:
        rows = self.catalog.visible_photos(filters, k, order)
        return self._mark_offline([SearchResult(row, None) for row in rows])

    def image_vector(self, image: str | os.PathLike) -> np.ndarray:
        """An indexed photo's stored vector, or a fresh encoding of any image file."""
        row = self.catalog.photo_by_path(image)
        if row is not None and row.id in self.vectors.ids:
            return self.vectors.vector(row.id)
        try:
            picture = open_photo(Path(image), draft_size=self.embedder.prep.size)
        except PhotoError as exc:
            raise ValueError(f"Cannot use {image} as a query: {exc}") from exc
        return self.embedder.encode_images(to_model_array(picture, self.embedder.prep)[None])[0]

    def browse(self, folder: str | None, limit: int,
               order: str | None = None) -> list[SearchResult]:
        """Every photo (of a folder) in the order it was indexed, so a folder being indexed
        grows at the end of a list instead of reshuffling it, unless an ``order`` is asked
        for; photos of offline folders are listed, marked, as in search."""
        return self._listed(SearchFilters(folder=folder), limit, order or "indexed")
