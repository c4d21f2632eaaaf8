"""What an adaptation run tells while it runs (``AdaptProgress``, through the progress
callback) and when it is done (``AdaptResult``: before/after metrics, cost, the adaptation)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields

from photofind.adapt.store import Adaptation


@dataclass
class AdaptProgress:
    phase: str  # "caching", "baseline", "training", "validating"
    epoch: int = 0
    epochs: int = 0
    step: int = 0
    steps: int = 0
    loss: float | None = None
    eta_s: float | None = None
    metrics: dict | None = None
    part: int = 0  # which of the run's variants reports (0-based) ...
    parts: int = 1  # ... of how many: the app's one bar spans them all


@dataclass
class AdaptResult:
    kept: bool
    variant: str
    before: dict
    after: dict
    trainable_params: int
    backbone_params: int
    seconds: float
    epochs_run: int
    seconds_per_epoch: float
    cancelled: bool = False
    adaptation: Adaptation | None = field(default=None, repr=False)
    rerank: dict | None = None  # the reranker taught in the same run (see photofind.services.adapting.adapt)
    verdict: str = ""  # why validation kept it or not, in a sentence (adapt.judging.judge)
    gate_kept: bool | None = None  # the gate's decision (differs from kept only ungated)
    items: dict | None = field(default=None, repr=False)  # the best epoch's per-item results

    @property
    def share(self) -> float:
        return self.trainable_params / max(1, self.backbone_params)

    def summary(self) -> dict:
        # Field by field: asdict would deep-copy the adaptation, whose text tower holds the
        # whole model (and the per-item lists are the gate's, not the user's).
        out = {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self)
               if f.name not in ("adaptation", "items")}
        out["trainable_share_percent"] = round(100 * self.share, 4)
        return out
