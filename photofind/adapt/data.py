"""Training data for "Adapt to my library": the library's own (photo, caption/tag) pairs."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

TAG_TEMPLATES = ("{}", "a photo of {}", "a picture of {}", "{} in a photo")
QUERY_TEMPLATE = "a photo of {}"
MIN_PHOTOS = 40  # 20 for validation and at least 20 to learn from
MIN_VAL_PHOTOS = 20


class NotEnoughData(ValueError):
    """Too few captioned/tagged photos to adapt; the message says how many are needed."""


@dataclass
class LabelledPhotos:
    """Photos (by catalog id) and their texts: captions are per photo, tags are shared."""

    photo_ids: list[int]
    captions: dict[int, list[str]] = field(default_factory=dict)
    tags: dict[int, list[str]] = field(default_factory=dict)  # photo → tag names

    def tag_members(self) -> dict[str, set[int]]:
        members: dict[str, set[int]] = {}
        for photo, names in self.tags.items():
            for name in names:
                members.setdefault(name, set()).add(photo)
        return members

    def queries(self) -> dict[str, set[int]]:
        """Each caption, and each tag as a query ("a photo of …"), with the photos it
        describes."""
        texts: dict[str, set[int]] = {}
        for photo, captions in self.captions.items():
            for caption in captions:
                texts.setdefault(caption, set()).add(photo)
        for tag, members in self.tag_members().items():
            texts.setdefault(QUERY_TEMPLATE.format(tag), set()).update(members)
        return texts

    def texts_of(self, photo: int) -> list[str]:
        return self.captions.get(photo, []) + [QUERY_TEMPLATE.format(t)
                                               for t in self.tags.get(photo, [])]


@dataclass
class AdaptationData:
    train: LabelledPhotos
    val: LabelledPhotos
    unlabelled: list[int]  # photos without any caption or tag: distractors, soft negatives

    @property
    def counts(self) -> dict[str, int]:
        return {"train_photos": len(self.train.photo_ids), "val_photos": len(self.val.photo_ids),
                "unlabelled_photos": len(self.unlabelled),
                "captions": sum(map(len, self.train.captions.values())) +
                sum(map(len, self.val.captions.values())),
                "tags": len(self.train.tag_members().keys() | self.val.tag_members().keys())}


def usable_counts(texts: list[tuple], photo_ids: list[int]) -> dict[str, int]:
    captioned = {pid for pid, kind, *_ in texts if kind in ("caption", "title")}
    tagged = {pid for pid, kind, *_ in texts if kind in ("tag", "person")}
    return {"captioned": len(captioned), "tagged": len(tagged),
            "usable": len(captioned | tagged), "needed": MIN_PHOTOS, "photos": len(photo_ids)}


def build_data(texts: list[tuple], photo_ids: list[int], seed: int = 0,
               val_fraction: float = 0.15) -> AdaptationData:
    """Split labelled photos (not pairs) into train and validation, seeded."""
    captions: dict[int, list[str]] = {}
    tags: dict[int, list[str]] = {}
    for photo, kind, text, *_ in texts:
        target = captions if kind in ("caption", "title") else tags
        if text not in target.setdefault(photo, []):
            target[photo].append(text)
    labelled = sorted(captions.keys() | tags.keys())
    if len(labelled) < MIN_PHOTOS:
        raise NotEnoughData(
            f"Only {len(labelled)} photos have captions or tags; adapting needs at least "
            f"{MIN_PHOTOS} ({MIN_VAL_PHOTOS} are set aside to check the result).")
    rng = random.Random(seed)
    rng.shuffle(labelled)
    n_val = max(MIN_VAL_PHOTOS, math.ceil(val_fraction * len(labelled)))
    val_ids, train_ids = sorted(labelled[:n_val]), sorted(labelled[n_val:])

    def subset(ids):
        return LabelledPhotos(ids, {p: captions[p] for p in ids if p in captions},
                              {p: tags[p] for p in ids if p in tags})

    unlabelled = sorted(set(photo_ids) - set(labelled))
    return AdaptationData(subset(train_ids), subset(val_ids), unlabelled)
