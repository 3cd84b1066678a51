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
