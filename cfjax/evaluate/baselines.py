"""Simple explanation baselines: a placebo, an embedding-neighbour heuristic and no deletion.

They give the validity of a real explainer something to be compared against: `random` is the
placebo (any deletion of that size), `none` is the noise floor of the verification protocol,
and `knn` is the item-similarity heuristic Yao et al. compare against.
"""

from __future__ import annotations

import numpy as np

from cfjax import rank
from cfjax.data.interactions import Interactions
from cfjax.evaluate.records import ExplanationRecord
from cfjax.evaluate.verify import jitted_scores, seen_rows
from cfjax.models.base import Recommender


def item_embeddings(model: Recommender, params) -> np.ndarray:
  """float[I, D] item embeddings: MF's item factors, NCF's GMF item embedding."""
  if model.name == "mf":
    return np.asarray(params["item_factors"])
  if model.name == "ncf":
    return np.asarray(params["gmf_item"]["embedding"])
  raise ValueError(f"no item embedding known for model {model.name!r}; use 'mf' or 'ncf'")


def rmse(model: Recommender, params, data: Interactions) -> float:
  """Root mean squared error of the predicted ratings on `data` (e.g. the test split)."""
  prediction = np.asarray(model.predict(params, data.user, data.item), dtype=np.float64)
  return float(np.sqrt(np.mean(np.square(prediction - data.rating))))


def sample_users(train: Interactions, num_users: int, *, min_history: int,
                 seed: int) -> np.ndarray:
  """`num_users` distinct users drawn uniformly from those with >= min_history training rows."""
  eligible = np.flatnonzero(train.user_counts >= min_history)
  if len(eligible) < num_users:
    raise ValueError(f"only {len(eligible)} users have >= {min_history} training rows, fewer "
                     f"than num_users={num_users}; ask for fewer users")
  return np.sort(np.random.default_rng(seed).choice(eligible, num_users, replace=False))


def top1_targets(model: Recommender, params, train: Interactions, users) -> np.ndarray:
  """int[B]: each user's top-1 unseen item under `params`: the recommendation to explain."""
  scores = np.asarray(jitted_scores(model)(params, np.asarray(users, dtype=np.int32)))
  return rank.top_k(scores, seen_rows(train, users), 1)[:, 0]


def random_explanation(train: Interactions, user: int, item: int, size: int,
                       rng: np.random.Generator) -> ExplanationRecord:
  """Placebo: a uniformly random `size`-subset of the user's training items."""
  history = train.history_items(user)
  chosen = rng.choice(history, size, replace=False)
  return ExplanationRecord(user, item, tuple(int(i) for i in chosen), method="random")


def knn_explanation(train: Interactions, user: int, item: int, size: int,
                    embeddings: np.ndarray) -> ExplanationRecord:
  """The `size` history items whose embeddings are nearest the target's by cosine."""
  history = train.history_items(user)
  unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
  similarity = unit[history] @ unit[item]
  order = np.argsort(-similarity, kind="stable")[:size]
  return ExplanationRecord(user, item, tuple(int(i) for i in history[order]), method="knn",
                           extra={"cosine": [float(s) for s in similarity[order]]})


def empty_explanation(user: int, item: int) -> ExplanationRecord:
  """Nothing deleted: its validity is the noise floor of the verification protocol."""
  return ExplanationRecord(user, item, (), method="none")
