"""Check that the saved image trunk really is the ImageNet EfficientNet-Lite0.

A wrong key mapping still loads if shapes agree, so the check is behavioural: put the trunk back
on the package's ImageNet classifier and classify photos whose class is obvious.
"""

import csv
from pathlib import Path

import torch

from .data import encode_images, read_captions
from .towers import imagenet_classifier

DAISY = 985  # ImageNet "daisy"
DOGS = range(151, 269)  # ImageNet dog breeds


def imagenet_view(model) -> torch.nn.Module:
    """The package's ImageNet classifier carrying `model`'s (saved) trunk weights."""
    clf = imagenet_classifier()
    missing, unexpected = clf.load_state_dict(model.visual.trunk.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("classifier.") for k in missing), (missing, unexpected)
    return clf.eval()


def top1(clf, paths: list[Path], preprocess) -> torch.Tensor:
    return encode_images(lambda x: clf(x).argmax(-1), paths, preprocess, "imagenet check").long()


def imagenet_checks(model, preprocess, flowers_dir: Path, photos_dir: Path) -> dict:
    """Top-1 rates: flowers tagged daisy -> 985; Flickr8k photos all 5 captions call a dog -> dog."""
    clf = imagenet_view(model)
    with open(flowers_dir / "tags.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    daisies = [flowers_dir / "images" / r["image"] for r in rows if r["tags"] == "daisy"]
    captions = read_captions(photos_dir)
    dogs = [photos_dir / "images" / n for n, cs in captions.items()
            if all("dog" in c.lower() for c in cs)]
    daisy_pred, dog_pred = top1(clf, daisies, preprocess), top1(clf, dogs, preprocess)
    return {
        "daisy_top1_is_985": round((daisy_pred == DAISY).float().mean().item(), 3),
        "daisy_photos": len(daisies),
        "dog_top1_is_dog_breed": round(
            sum(int(p) in DOGS for p in dog_pred) / max(len(dogs), 1), 3),
        "dog_photos": len(dogs),
    }
