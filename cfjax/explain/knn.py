"""The KNN baseline of Yao et al. (sec. 6.1): the e history items nearest the target item
in the recommender's item-embedding space (cosine), reusing `cfjax.evaluate.baselines`."""

from __future__ import annotations

import time
from typing import Sequence

from cfjax.data.interactions import Interactions
from cfjax.evaluate.baselines import item_embeddings, knn_explanation
from cfjax.evaluate.records import ExplanationRecord
from cfjax.models.base import Recommender
from cfjax.types import Params


def explain_knn(model: Recommender, params: Params, train: Interactions, users: Sequence[int],
                items: Sequence[int], *, e: int = 3) -> list[ExplanationRecord]:
  """KNN explanations (method "knn") of each (user, item), with per-explanation seconds."""
  embeddings = item_embeddings(model, params)
  records = []
  for user, item in zip(users, items):
    start = time.perf_counter()
    record = knn_explanation(train, int(user), int(item), int(e), embeddings)
    record.extra["seconds"] = time.perf_counter() - start
    records.append(record)
  return records


def explain_knn_batched(model: Recommender, params: Params, train: Interactions,
                        users: Sequence[int], items: Sequence[int], *,
                        e: int = 3) -> list[ExplanationRecord]:
  """`explain_knn` for all pairs at once: one [I, B] cosine matrix, then each user's top e
  history items (same choice and tie order as `knn_explanation`); extra["seconds"] is the
  batch's wall time per pair (including the item embeddings)."""
  import numpy as np
  start = time.perf_counter()
  embeddings = np.asarray(item_embeddings(model, params))
  unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
  similarity = unit @ unit[np.asarray(items)].T  # [I, B]
  chosen = []
  for column, user in enumerate(users):
    history = train.history_items(int(user))
    order = np.argsort(-similarity[history, column], kind="stable")[:int(e)]
    chosen.append(tuple(int(i) for i in history[order]))
  seconds = (time.perf_counter() - start) / max(len(chosen), 1)
  return [ExplanationRecord(int(u), int(i), c, method="knn",
                            extra={"seconds": seconds, "batched": True})
          for u, i, c in zip(users, items, chosen)]
