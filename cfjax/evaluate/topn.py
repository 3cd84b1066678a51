"""Top-N accuracy of a recommender: Recall@K and NDCG@K over a per-user hold-out.

So a user can see that a model is a reasonable recommender before explaining it. Protocol:
every user's interactions are split into training and held-out rows
(`cfjax.data.per_user_holdout`); each user with held-out rows ranks ALL items not in their
training rows (full ranking, no sampled negatives), and with T_u the held-out items and
hit_r = 1[the item at rank r is in T_u]:

  Recall@K = sum_{r<=K} hit_r / |T_u|                      (He et al. 2020, LightGCN's)
  NDCG@K   = sum_{r<=K} hit_r / log2(r + 1) / IDCG,  IDCG = sum_{r<=min(K,|T_u|)} 1/log2(r + 1),

averaged over users. Also reported: how many distinct items are some user's top-1 (a model
whose top-1 is the same few items for everyone is a poor target for explanations).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from cfjax import rank
from cfjax.data.interactions import Interactions
from cfjax.models.base import Recommender
from cfjax.types import Params


def metrics_from_scores(scores: np.ndarray, seen: np.ndarray, heldout: np.ndarray,
                        ks: Sequence[int]) -> dict[str, np.ndarray]:
  """Per-user Recall@K and NDCG@K of score rows (module docstring).

  Args:
    scores: float[B, I].
    seen: bool[B, I] training items (excluded from the ranking).
    heldout: bool[B, I] held-out items (each row has at least one).
    ks: cut-offs.

  Returns:
    {"recall@K": float[B], "ndcg@K": float[B]} for every K, and "top1": int[B].
  """
  largest = max(int(k) for k in ks)
  top = rank.top_k(scores, seen, largest)  # [B, K] best first, unseen only
  hits = np.take_along_axis(heldout, top, axis=1).astype(np.float64)
  counts = heldout.sum(axis=1)
  discount = 1.0 / np.log2(np.arange(2, largest + 2))
  out = {"top1": top[:, 0]}
  for k in ks:
    k = int(k)
    out[f"recall@{k}"] = hits[:, :k].sum(axis=1) / counts
    ideal = np.cumsum(discount[:k])[np.minimum(counts, k) - 1]
    out[f"ndcg@{k}"] = (hits[:, :k] * discount[:k]).sum(axis=1) / ideal
  return out


def topn_metrics(scores_of: Callable[[np.ndarray], np.ndarray], train: Interactions,
                 test: Interactions, ks: Sequence[int] = (20,), *,
                 batch: int = 256) -> dict:
  """Recall@K and NDCG@K over the users with held-out rows, and distinct top-1 items.

  Args:
    scores_of: users int[B] -> float[B, I] scores of every item (e.g. `model_scores`).
    train: the training rows (ranked items exclude them).
    test: the held-out rows (same id spaces).
    ks: cut-offs.
    batch: users scored at a time.

  Returns:
    {"recall@K", "ndcg@K" (means), "users" (evaluated), "distinct_top1" (distinct top-1 items
    over the evaluated users), "top1_share" (the share of users whose top-1 is the most
    common one)}.

  Raises:
    ValueError: different id spaces, no held-out rows, or a bad K.
  """
  if (train.num_users, train.num_items) != (test.num_users, test.num_items):
    raise ValueError("train and test must share id spaces; split one Interactions with "
                     "per_user_holdout")
  for k in ks:
    if not 1 <= int(k) <= train.num_items:
      raise ValueError(f"K={k} must lie in [1, {train.num_items}]")
  users = np.flatnonzero(test.user_counts > 0)
  if users.size == 0:
    raise ValueError("the test split has no rows; hold out rows per user first")
  totals: dict[str, list] = {}
  for start in range(0, users.size, batch):
    chunk = users[start:start + batch]
    seen = rank.seen_rows(train, chunk)
    heldout = rank.seen_rows(test, chunk)
    per_user = metrics_from_scores(np.asarray(scores_of(chunk)), seen, heldout, ks)
    for name, values in per_user.items():
      totals.setdefault(name, []).append(values)
  merged = {name: np.concatenate(parts) for name, parts in totals.items()}
  top1 = merged.pop("top1")
  result = {name: float(np.mean(values)) for name, values in merged.items()}
  result.update(users=int(users.size), distinct_top1=int(np.unique(top1).size),
                top1_share=float(np.bincount(top1).max() / top1.size))
  return result


def model_scores(model: Recommender, params: Params) -> Callable[[np.ndarray], np.ndarray]:
  """users -> scores [B, I] of a `Recommender` (jitted, `rank.scores_of`)."""
  return lambda users: rank.scores_of(model, params, users)
