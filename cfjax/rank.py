"""Top-K recommendation lists and ranks over the items a user has not interacted with.

A counterfactual explanation "had you not interacted with B, C, D we would not have recommended
A" is valid when, after deleting B, C, D and retraining, A is no longer in the user's top-K
(Yao et al., eq. 2). Recommendation lists only hold items the user has NOT interacted with, so
every function here takes a `seen` mask and ranks unseen items only. Ties are broken by the
lower item index, the same way in `top_k` and `rank_of`, so `rank_of(top_k(...)[p]) == p + 1`.

The `*_jnp` functions are pure, jit- and vmap-friendly; the host functions without the suffix
validate their inputs (one-line ValueErrors) and return numpy values.
"""

from __future__ import annotations

import functools
import warnings
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from cfjax.data.interactions import Interactions
from cfjax.models.base import Recommender
from cfjax.types import Array, Params


def _check_k(k: int, num_items: int) -> None:
  if not 1 <= int(k) <= num_items:
    raise ValueError(f"k={k} must lie in [1, {num_items}] (the number of items); lower k")


def top_k_jnp(scores: Array, seen: Array, k: int) -> Array:
  """The K highest-scoring unseen items, best first (the recommendation list of Yao et al.).

  Seen items are excluded; ties go to the lower item index. Pure and jit/vmap-friendly (`k` is
  static). If a row has fewer than k unseen items the tail holds seen items: use `top_k` on the
  host to get an error instead.

  Args:
    scores: float[..., I] scores of every item.
    seen: bool[..., I] True where the user interacted with the item in training.
    k: list length K (static).

  Returns:
    int32[..., K] item indices.

  Raises:
    ValueError: if k > I.
  """
  _check_k(k, scores.shape[-1])
  masked = jnp.where(seen, -jnp.inf, scores)
  _, items = jax.lax.top_k(masked, int(k))  # lax.top_k puts the lower index first on ties
  return items.astype(jnp.int32)


def rank_of_jnp(scores: Array, seen: Array, item: Array) -> Array:
  """1-based rank of `item` among the unseen items, consistent with `top_k_jnp`.

  rank = 1 + #{unseen j : s_j > s_item, or s_j == s_item and j < item}. The item is in the
  top-K iff rank <= K (Yao et al., eq. 2: an explanation is valid iff the rank after retraining
  exceeds K). Pure and jit/vmap-friendly.

  Args:
    scores: float[..., I].
    seen: bool[..., I].
    item: int[...] the item of each row (broadcast against scores[..., 0]).

  Returns:
    int32[...] ranks.
  """
  item = jnp.asarray(item)[..., None]
  item_score = jnp.take_along_axis(scores, jnp.broadcast_to(item, scores.shape[:-1] + (1,)), -1)
  index = jnp.arange(scores.shape[-1])
  ahead = ~seen & ((scores > item_score) | ((scores == item_score) & (index < item)))
  return 1 + jnp.sum(ahead, axis=-1, dtype=jnp.int32)


def in_top_k_jnp(scores: Array, seen: Array, item: Array, k: int) -> Array:
  """bool[...]: whether `item` is among the top-K unseen items (the negation of eq. 2 validity)."""
  return rank_of_jnp(scores, seen, item) <= k


def _host_inputs(scores, seen) -> tuple[np.ndarray, np.ndarray]:
  scores, seen = np.asarray(scores), np.asarray(seen, dtype=bool)
  if scores.shape != seen.shape or scores.ndim == 0:
    raise ValueError(f"scores {scores.shape} and seen {seen.shape} must share one shape [..., I]; "
                     "pass a seen mask per score row")
  if np.isnan(scores).any():
    raise ValueError("scores contain NaN; rank only finite scores (check the model's training)")
  return scores, seen


def top_k(scores, seen, k: int) -> np.ndarray:
  """Host `top_k_jnp` with checks: the top-K unseen items (Yao et al.'s recommendation list).

  Args:
    scores: float[..., I].
    seen: bool[..., I].
    k: K.

  Returns:
    int32[..., K] item indices, best first, ties to the lower index.

  Raises:
    ValueError: if k > I, or a row has fewer than k unseen items.
  """
  scores, seen = _host_inputs(scores, seen)
  _check_k(k, scores.shape[-1])
  unseen = (~seen).sum(-1)
  if (unseen < k).any():
    raise ValueError(f"a user has only {unseen.min()} unseen items, fewer than k={k}; lower k "
                     "or drop users with nearly complete histories")
  return np.asarray(top_k_jnp(jnp.asarray(scores), jnp.asarray(seen), int(k)))


def rank_of(scores, seen, item):
  """Host `rank_of_jnp` with checks: the 1-based rank of an unseen item (for eq. 2 validity).

  Args:
    scores: float[..., I].
    seen: bool[..., I].
    item: int or int[...] one item per score row.

  Returns:
    An int for a single row, else int32[...] ranks.

  Raises:
    ValueError: if an item is out of range or seen by its user.
  """
  scores, seen = _host_inputs(scores, seen)
  item = np.broadcast_to(np.asarray(item, dtype=np.int64), scores.shape[:-1])
  if item.size and (item.min() < 0 or item.max() >= scores.shape[-1]):
    raise ValueError(f"item ids must lie in [0, {scores.shape[-1]}); got {item.min()}..{item.max()}")
  if np.take_along_axis(seen, item[..., None], -1).any():
    raise ValueError("an item to rank was seen by its user in training; rank_of ranks unseen "
                     "items only, so pass an item outside the user's history")
  ranks = np.asarray(rank_of_jnp(jnp.asarray(scores), jnp.asarray(seen), jnp.asarray(item)))
  return int(ranks) if ranks.ndim == 0 else ranks


def in_top_k(scores, seen, item, k: int):
  """Host check that `item` is in the top-K unseen items (an explanation is valid iff not, eq. 2).

  Args:
    scores: float[..., I].
    seen: bool[..., I].
    item: int or int[...].
    k: K.

  Returns:
    A bool for a single row, else bool[...].
  """
  _check_k(k, np.shape(scores)[-1])
  ranks = rank_of(scores, seen, item)
  return bool(ranks <= k) if np.ndim(ranks) == 0 else np.asarray(ranks) <= k


@functools.lru_cache(maxsize=None)
def jitted_scores(model: Recommender):
  """jit(model.scores): (params, users int32[B]) -> float32[B, I], cached per model."""
  return jax.jit(model.scores)


def scores_of(model: Recommender, params: Params, users, *, batch: int = 512) -> np.ndarray:
  """Host float32[B, I]: every item's score for each user, computed `batch` users at a time
  (the last batch padded, so one compile serves any number of users)."""
  users = np.asarray(users, dtype=np.int32).ravel()
  if users.size == 0:
    return np.zeros((0, model.num_items), np.float32)
  size = min(batch, users.size)
  score = jitted_scores(model)
  parts = []
  for start in range(0, users.size, size):
    chunk = users[start:start + size]
    padded = np.concatenate([chunk, np.repeat(chunk[-1:], size - chunk.size)])
    parts.append(np.asarray(score(params, jnp.asarray(padded)))[:chunk.size])
  return np.concatenate(parts)


def seen_rows(train: Interactions, users: Sequence[int]) -> np.ndarray:
  """bool[B, I]: each listed user's training items (the items excluded from recommendation)."""
  seen = np.zeros((len(users), train.num_items), dtype=bool)
  for row, user in enumerate(users):
    seen[row, train.history_items(int(user))] = True
  return seen


def top_k_lists(model: Recommender, params: Params, train: Interactions, users,
                k: int) -> tuple[np.ndarray, np.ndarray]:
  """Each user's top-K unseen items (`top_k`) and their scores: (int32[B, K], float[B, K])."""
  users = np.asarray(users, dtype=np.int64).ravel()
  scores = scores_of(model, params, users)
  items = top_k(scores, seen_rows(train, users), k)
  return items, np.take_along_axis(scores, items, axis=1)


def top1_targets(model: Recommender, params: Params, train: Interactions, users) -> np.ndarray:
  """int[B]: each user's top-1 unseen item under `params`: the recommendation to explain.

  Warns (`TiedScoresWarning`) when some users' top-1 is tied with their runner-up
  (`warn_tied_top1`): explaining such a top-1 explains a tie-break."""
  users = np.asarray(users, dtype=np.int64).ravel()
  scores, seen = scores_of(model, params, users), seen_rows(train, users)
  warn_tied_top1(scores, seen)
  return top_k(scores, seen, 1)[:, 0]


# Scores closer than this (relative to max(1, |top score|)) are tied: a few float32 ulps, so
# the ordering between them is the index tie-break, not a preference. (1e-4 flagged chance
# near-ties of healthy models: 1 of 100 users of a small NCF.)
TIE_TOLERANCE = 1e-6


class TiedScoresWarning(UserWarning):
  """Some users' top-1 item is tied with the runner-up (the top-1 is an arbitrary tie-break)."""


def tied_at_top(top_scores, *, tolerance: float = TIE_TOLERANCE) -> np.ndarray:
  """bool[B]: whether each best-first score list's first score ties its second, within
  `tolerance` * max(1, |first|). Lists of one score never tie.

  Args:
    top_scores: float[B, K] each user's top-K scores, best first (`top_k_lists`).
    tolerance: the relative tolerance.
  """
  top_scores = np.asarray(top_scores, dtype=np.float64)
  if top_scores.ndim != 2 or top_scores.shape[1] < 2:
    return np.zeros(top_scores.shape[:1], dtype=bool)
  first, second = top_scores[:, 0], top_scores[:, 1]
  return np.abs(first - second) <= tolerance * np.maximum(1.0, np.abs(first))


def tied_top1(scores, seen, *, tolerance: float = TIE_TOLERANCE) -> np.ndarray:
  """bool[B]: whether each user's best unseen score ties the runner-up's (`tied_at_top`).

  Args:
    scores: float[B, I].
    seen: bool[B, I].
  """
  scores, seen = _host_inputs(scores, seen)
  masked = np.where(seen, -np.inf, scores.astype(np.float64))
  best_two = -np.sort(-masked, axis=-1)[..., :2] if masked.shape[-1] >= 2 else masked
  best_two = np.where(np.isfinite(best_two), best_two, np.nan)
  tied = tied_at_top(best_two.reshape(-1, best_two.shape[-1]), tolerance=tolerance)
  return tied & ~np.isnan(best_two.reshape(-1, best_two.shape[-1])).any(-1)


def tie_message(tied: int, total: int, *, tolerance: float = TIE_TOLERANCE) -> str:
  """The one-line warning for `tied` of `total` users whose top-1 ties the runner-up."""
  return (f"{tied} of {total} users' top-1 is tied with the runner-up (scores within "
          f"{tolerance:g} x max(1, |score|)): the top-1 is an arbitrary tie-break, so an "
          "explanation of it explains the tie-break; train a model that separates the items "
          "(e.g. a ranking model such as bpr on implicit feedback)")


def warn_tied_top1(scores, seen, *, tolerance: float = TIE_TOLERANCE) -> int:
  """Warns (`TiedScoresWarning`, `tie_message`) if some users' top-1 ties the runner-up.

  Returns:
    How many users' top-1 is tied.
  """
  tied = int(tied_top1(scores, seen, tolerance=tolerance).sum())
  if tied:
    warnings.warn(tie_message(tied, len(np.asarray(seen))), TiedScoresWarning, stacklevel=3)
  return tied
