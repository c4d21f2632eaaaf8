"""Quoted phrases: ``"exit 12"`` finds photos whose text, caption or tags hold those words in
that order, forgiving what OCR gets wrong.

Words are compared as SQLite's FTS5 ``unicode61 remove_diacritics 2`` tokenizer stores them
(case-folded, accents removed), and a word of ``FUZZY_FROM`` letters or more also matches
words one edit away (a letter misread, dropped or added: "HARB0UR", "Harbur"). Candidates
come from the FTS5 index (each word or its near spellings, all words present); the order of
the words is then checked on the candidates' texts.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable, Iterable

FUZZY_FROM = 5  # words this long or longer may be one edit away
_QUOTED = re.compile(r'"([^"]*)"|“([^”]*)”')
_WORD = re.compile(r"[^\W_]+")  # FTS5's unicode61 splits on "_" too


def split_quoted(query: str) -> tuple[list[str], str]:
    """The quoted phrases of a query and what is left of it: ``'"exit 12" night'`` →
    (["exit 12"], "night"). Empty quotes are dropped."""
    phrases = [a or b for a, b in _QUOTED.findall(query)]
    rest = " ".join(_QUOTED.sub(" ", query).split())
    return [p for p in phrases if words_of(p)], rest


def words_of(text: str) -> list[str]:
    """``text``'s words as FTS5 stores them: case-folded, accents removed."""
    decomposed = unicodedata.normalize("NFD", text.lower())  # as FTS5: "straße" stays
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _WORD.findall(plain)


def near(word: str, other: str) -> bool:
    """Equal, or (for words of ``FUZZY_FROM`` letters or more) one edit apart."""
    if word == other:
        return True
    if len(word) < FUZZY_FROM or abs(len(word) - len(other)) > 1 or \
            any(c.isdigit() for c in word):  # numbers (race numbers, postcodes) exactly
        return False
    if len(word) == len(other):
        return sum(a != b for a, b in zip(word, other)) == 1
    short, long = sorted((word, other), key=len)
    i = next((i for i, (a, b) in enumerate(zip(short, long)) if a != b), len(short))
    return short[i:] == long[i + 1:]


def spellings(word: str, vocabulary: Callable[[int, int], Iterable[str]]) -> list[str]:
    """``word`` and the indexed words near it. ``vocabulary(shortest, longest)`` lists the
    indexed words of those lengths."""
    if len(word) < FUZZY_FROM or any(c.isdigit() for c in word):
        return [word]
    return [word] + sorted({w for w in vocabulary(len(word) - 1, len(word) + 1)
                            if w != word and near(word, w)})


def fts_all_of(alternatives: list[list[str]]) -> str:
    """An FTS5 query: every word present, each as any of its spellings."""
    return " AND ".join("(" + " OR ".join(f'"{w}"' for w in words) + ")"
                        for words in alternatives)


def holds_phrase(text: str, alternatives: list[list[str]]) -> bool:
    """Whether ``text`` holds the words in order, each as one of its spellings."""
    words, n = words_of(text), len(alternatives)
    return any(all(words[start + i] in alternatives[i] for i in range(n))
               for start in range(len(words) - n + 1))


def photos_with_phrase(phrase: str, vocabulary: Callable[[int, int], Iterable[str]],
                       texts_matching: Callable[[str], Iterable[tuple[int, str]]]) -> set[int]:
    """Ids of photos one of whose texts holds ``phrase`` (forgivingly, as above).
    ``texts_matching(fts_query)`` gives (photo_id, text) of the texts an FTS5 query matches."""
    alternatives = [spellings(word, vocabulary) for word in words_of(phrase)]
    if not alternatives:
        return set()
    return {photo_id for photo_id, text in texts_matching(fts_all_of(alternatives))
            if holds_phrase(text, alternatives)}


def phrase_terms(terms: list) -> tuple[list[str], list[str], list]:
    """A parsed query's quoted phrases, wanted (in a positive term) and unwanted (in a
    negative one: ``beach - "no entry"``), and its terms without the quotes. A positive term
    that was only a phrase is ranked by the phrase's words; a negative one that was only a
    phrase excludes and is dropped."""
    wanted, unwanted, kept = [], [], []
    for term in terms:
        if term.text is None:
            kept.append(term)
            continue
        phrases, rest = split_quoted(term.text)
        (wanted if term.weight > 0 else unwanted).extend(phrases)
        body = rest or (" ".join(phrases) if term.weight > 0 else "")
        if body:
            kept.append(dataclasses.replace(term, text=body))
    return wanted, unwanted, kept
