"""Personal concepts: a learned word for each tag the model does not know ("Biscuit").

Textual inversion for retrieval (Cohen et al., "This is my unicorn, Fluffy", ECCV 2022): a
tag on enough photos whose zero-shot validation AP is low gets one vector in the text
tower's input space; queries that mention it ("Biscuit on the beach") use that vector in
place of the name, so the rest of the sentence composes with it.
"""

from __future__ import annotations

import re

from photofind.adapt.data import QUERY_TEMPLATE, LabelledPhotos


def concept_key(name: str) -> str:
    slug = re.sub(r"\W+", "_", name.casefold()).strip("_") or "concept"
    return f"c_{slug}"[:60]


def names_for(tag: str) -> list[str]:
    """The tag, plus its leaf for hierarchical spellings ("People/Emma" → "Emma")."""
    names = [tag]
    leaf = re.split(r"[/|>]", tag)[-1].strip()
    if leaf and leaf != tag:
        names.append(leaf)
    return names


def select_concepts(train: LabelledPhotos, zero_shot_ap: dict[str, float], min_photos: int,
                    max_ap: float) -> dict[str, list[str]]:
    """Tags on ≥ ``min_photos`` training photos that zero-shot retrieval handles poorly
    (validation AP below ``max_ap``; tags without validation photos count as unknown)."""
    chosen = {}
    for tag, members in sorted(train.tag_members().items()):
        ap = zero_shot_ap.get(QUERY_TEMPLATE.format(tag), 0.0)
        if len(members) >= min_photos and ap < max_ap:
            chosen[concept_key(tag)] = names_for(tag)
    return chosen
