"""The KNN baseline of Yao et al. (sec. 6.1): the e history items nearest the target item in
the recommender's item-embedding space (cosine similarity), through the `item_embeddings`
hook (MF: the item factors; NCF: its GMF and MLP item embeddings side by side)."""

from __future__ import annotations

import dataclasses
import time
from typing import ClassVar

import numpy as np

from cfjax.explain.base import ExplainContext, Targets, register
from cfjax.util import check_int
from cfjax.records import Explanation


def cosine_to_targets(embeddings: np.ndarray, items: np.ndarray) -> np.ndarray:
  """float[I, B]: cosine similarity of every item's embedding [I, D] to each target item's."""
  embeddings = np.asarray(embeddings)
  unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
  return unit @ unit[np.asarray(items)].T


@register("knn")
@dataclasses.dataclass(frozen=True)
class Knn:
  """The `e` history items most similar to the target (ties: earlier in the history)."""

  e: int = 3
  name: str = "knn"
  requires: ClassVar[tuple[str, ...]] = ("item_embeddings",)
  cost: ClassVar[str] = "fast"

  def __post_init__(self):
    check_int(self.e, "knn: e", minimum=1)

  def attributions(self, ctx: ExplainContext, targets: Targets) -> list[dict[int, float]]:
    """[B] {history item: cosine similarity of its embedding to the target item's}.

    Knn's own ranking score as an attribution (`cfjax.explain.base`): not a predicted margin
    decrease but a proxy assumed monotone in it (a nearer item is assumed to support the
    target more). In [-1, 1]; one [I, B] similarity matrix for all targets.
    """
    ctx.check_targets(targets)
    embeddings = np.asarray(ctx.model.require("item_embeddings", "knn")(ctx.params))
    similarity = cosine_to_targets(embeddings, targets.items)
    out = []
    for column, (user, _) in enumerate(targets):
      history = ctx.train.history_items(user)
      out.append(dict(zip(history.tolist(), similarity[history, column].tolist())))
    return out

  def explain(self, ctx: ExplainContext, targets: Targets) -> list[Explanation]:
    """[B] records; extra["cosine"] holds the chosen items' similarities, "seconds" the
    batch's wall time per target (one [I, B] similarity matrix for all targets)."""
    if int(self.e) < 1:
      raise ValueError(f"e={self.e} must be >= 1; pass the explanation size")
    ctx.check_targets(targets, min_history=int(self.e), reason=f"knn deletes {self.e} items")
    start = time.perf_counter()
    embeddings = np.asarray(ctx.model.require("item_embeddings", "knn")(ctx.params))
    similarity = cosine_to_targets(embeddings, targets.items)
    chosen = []
    for column, (user, _) in enumerate(targets):
      history = ctx.train.history_items(user)
      order = np.argsort(-similarity[history, column], kind="stable")[:int(self.e)]
      chosen.append((history[order], similarity[history[order], column]))
    seconds = (time.perf_counter() - start) / len(targets)
    return [Explanation(user, item, tuple(int(i) for i in items), method=self.name,
                        extra={"cosine": [float(s) for s in cosines], "seconds": seconds})
            for (user, item), (items, cosines) in zip(targets, chosen)]
