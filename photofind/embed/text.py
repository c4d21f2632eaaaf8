"""The frozen text tower, split where learned words plug in.

A query becomes token *embeddings* plus a mask (``embed``), then the tower runs on those
(``forward_embeds``). Learned context vectors (``photofind.adapt.prompts.TextPrompt``) and
personal-concept words are inserted between the two steps, so the same split serves
training (torch, with gradients), plain torch inference, and the exported ONNX text graph
(``photofind.embed.export``), which takes embeddings and a mask as its inputs and therefore
never needs re-exporting when an adaptation changes.
"""

from __future__ import annotations

import torch
from torch import nn

POOLS_BY_MASK = ("argmax", "eos")  # the end token is the last position the mask keeps


def text_tower(model: nn.Module, tokenizer):
    text = getattr(model, "text", None)
    if text is not None and hasattr(text, "transformer") and hasattr(text, "pooler"):
        return HFText(text, tokenizer)
    source = text if text is not None and hasattr(text, "token_embedding") else model
    if not hasattr(source, "token_embedding"):
        raise NotImplementedError(f"No prompt support for text tower {type(text).__name__}")
    return OpenClipText(source, tokenizer)


def encode_frozen_text(model: nn.Module, tokenizer, texts: list[str]) -> torch.Tensor:
    """``model.encode_text`` (unnormalised) with padding columns trimmed: the tokenizer pads
    every text to the context length (77 for CLIP), and on CPU a short query then costs ~4×
    what it needs to."""
    try:
        tower = text_tower(model, tokenizer)
    except NotImplementedError:
        device = next(model.parameters()).device
        return model.encode_text(tokenizer(list(texts)).to(device))
    return tower.encode(list(texts), None, None)


class _Tower:
    """What both kinds of tower share: tokenize → embed (+ prompts) → run on embeddings."""

    tokenizer: object
    pad_id: int = 0

    def embedding(self) -> nn.Embedding:
        raise NotImplementedError

    def token_ids(self, phrase: str) -> list[int]:
        ids = self.tokenizer([phrase])[0]
        return [int(t) for t in ids[1:] if int(t) != self.pad_id][:-1]  # drop start, end, pad

    def word_vectors(self, phrase: str) -> torch.Tensor:
        return self.embedding().weight[self.token_ids(phrase)].detach().float().cpu()

    def embed(self, texts, ctx, concepts) -> tuple[torch.Tensor, torch.Tensor]:
        """(token embeddings N×L×W with context vectors and concept words in place, mask N×L
        of the positions that count: 1 up to and including the end token)."""
        n_ctx = 0 if ctx is None else ctx.shape[0]
        ids = trim(self.tokenizer(list(texts), context_length=self.context_length - n_ctx),
                   self.pad_id).to(self.embedding().weight.device)
        x = with_concepts(self.embedding()(ids), ids, concepts)
        mask = self.mask(ids)
        if n_ctx:
            batch = len(texts)
            x = torch.cat([x[:, :1], ctx.to(x.dtype).expand(batch, -1, -1), x[:, 1:]], dim=1)
            mask = torch.cat([mask[:, :1], mask.new_ones(batch, n_ctx), mask[:, 1:]], dim=1)
        return x, mask

    def encode(self, texts, ctx, concepts, with_tokens: bool = False):
        """Unnormalised pooled features; ``with_tokens`` also the per-token features in the
        joint space and their mask (for the reranker)."""
        x, mask = self.embed(texts, ctx, concepts)
        pooled, tokens = self.forward_embeds(x, mask, with_tokens)
        return (pooled, tokens, mask.bool()) if with_tokens else pooled

    def forward_embeds(self, x, mask, with_tokens: bool = True):
        raise NotImplementedError


class OpenClipText(_Tower):
    """open_clip's causal text transformer (the CLIP class itself, or a TextTransformer)."""

    def __init__(self, source: nn.Module, tokenizer):
        if getattr(source, "cls_emb", None) is not None:
            raise NotImplementedError("text towers with a class token (CoCa) are not supported")
        self.m, self.tokenizer = source, tokenizer
        self.context_length = int(source.positional_embedding.shape[0])
        self.pool_type = getattr(source, "text_pool_type", getattr(source, "pool_type", "argmax"))
        if self.pool_type not in (*POOLS_BY_MASK, "first"):
            raise NotImplementedError(f"text pooling '{self.pool_type}' is not supported")

    def embedding(self) -> nn.Embedding:
        return self.m.token_embedding

    def mask(self, ids: torch.Tensor) -> torch.Tensor:
        # causal attention: what follows the end token never reaches it, so "up to the end
        # token" is exact; the end token is the highest id (argmax) or the tokenizer's eos
        last = (ids != 0).sum(dim=1) - 1
        return (torch.arange(ids.shape[1], device=ids.device)[None] <= last[:, None]).long()

    def forward_embeds(self, x, mask, with_tokens: bool = True):
        length = x.shape[1]
        x = x + self.m.positional_embedding[:length].to(x.dtype)
        attn = self.m.attn_mask
        x = self.m.transformer(x, attn_mask=None if attn is None else attn[:length, :length])
        x = self.m.ln_final(x)
        if self.pool_type == "first":
            pooled = x[:, 0]
        else:
            pooled = x[torch.arange(x.shape[0], device=x.device), mask.sum(dim=1) - 1]
        pooled = self._project(pooled)
        return pooled, (self._project(x) if with_tokens else None)

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        projection = self.m.text_projection
        if projection is None:
            return x
        return projection(x) if isinstance(projection, nn.Module) else x @ projection


class HFText(_Tower):
    """open_clip's Hugging Face text tower (e.g. BERT/MiniLM with mean pooling)."""

    def __init__(self, tower: nn.Module, tokenizer):
        self.m, self.tokenizer = tower, tokenizer
        self.context_length = int(getattr(tokenizer, "context_length", 0) or
                                  tower.config.max_position_embeddings)
        self.pad_id = tower.config.pad_token_id or 0

    def embedding(self) -> nn.Embedding:
        return self.m.transformer.get_input_embeddings()

    def mask(self, ids: torch.Tensor) -> torch.Tensor:
        return (ids != self.pad_id).long()

    def forward_embeds(self, x, mask, with_tokens: bool = True):
        out = self.m.transformer(inputs_embeds=x, attention_mask=mask)
        pooled = self.m.proj(self.m.pooler(out, mask))
        return pooled, (self.m.proj(out.last_hidden_state) if with_tokens else None)


def trim(tokens: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
    """Drop padding columns every row has: exact (causal or masked attention), and on CPU the
    cost of a text forward falls with the sequence length."""
    used = (tokens != pad_id).any(dim=0).nonzero()
    return tokens[:, : int(used.max()) + 1] if len(used) else tokens


def with_concepts(x, tokens, concepts):
    """Put each row's concept vectors where its placeholder tokens are, in order."""
    if not concepts:
        return x
    placeholder_id, rows = concepts
    row_index, positions, vectors = [], [], []
    for row, row_vectors in enumerate(rows):
        slots = (tokens[row] == placeholder_id).nonzero().flatten().tolist()
        for slot, vector in zip(slots, row_vectors):
            row_index.append(row)
            positions.append(slot)
            vectors.append(vector)
    if not vectors:
        return x
    index = (torch.tensor(row_index, device=x.device), torch.tensor(positions, device=x.device))
    return x.index_put(index, torch.stack(vectors).to(x.dtype))
