"""Text->image retrieval on held-out Flickr8k photos, through the model's public encode calls."""

from pathlib import Path

import torch

from .data import encode_images, encode_texts, read_captions


def recall_at_k(image_emb, text_emb, text_image, ks=(1, 5, 10)) -> dict[str, float]:
    """Share of caption queries whose own photo ranks in the top k (ties count against)."""
    sims = text_emb @ image_emb.T
    own = sims.gather(1, text_image[:, None])
    rank = (sims > own).sum(1)
    return {f"R@{k}": round(100 * (rank < k).float().mean().item(), 2) for k in ks}


def text_to_image_recall(model, preprocess, tokenizer, data_dir: Path, limit: int | None = None):
    """R@1/5/10 over `limit` photos (all if None), every caption of each photo as a query."""
    captions = read_captions(data_dir)
    images = list(captions)[:limit]
    texts = [c for name in images for c in captions[name]]
    text_image = torch.tensor([i for i, name in enumerate(images) for _ in captions[name]])
    model.eval()
    paths = [data_dir / "images" / n for n in images]
    img = encode_images(
        lambda x: model.encode_image(x, normalize=True), paths, preprocess, "eval images"
    )
    txt = encode_texts(
        lambda t: model.encode_text(t, normalize=True), tokenizer, texts, "eval captions"
    )
    return recall_at_k(img, txt, text_image), len(images), len(texts)
