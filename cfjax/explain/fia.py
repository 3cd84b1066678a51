"""FIA influences of a user's actions on the top-k scores, and the two FIA baselines of ACCENT.

FIA (Fast Influence Analysis, Cheng et al. KDD 2019) as ACCENT (Tran et al. SIGIR 2021, Sec.
2.1 and 3.4) uses it on NCF: the influence of the user's training row z on the predicted score
of item t, I(z, y_ut) = y_ut - y_ut^{-z} (eq. 5), estimated by eq. 4 restricted to the embedding
rows of u and t (64 parameters), with the Hessian of the loss over the rows of u or t only,
damping 1e-6 and the first-order parameter change divided by |R_ut| (the FIA implementation
ACCENT runs for NCF). `fia_influences` computes it for every user, every top-k item and every
history row in one batched call.

The two baselines (ACCENT Sec. 3.3.2) work on the resulting [K, R] matrix, as pure functions:
  * `pure_fia_select`: "sort items in I_u by I(z, y_u,rec) and add items one by one until rec
    is displaced";
  * `fia_select`: the same order, but "keep only the interactions that reduce the score gap
    between y_u,rec and the score of the second-ranked item".
"""

from __future__ import annotations

import numpy as np

from cfjax.data.interactions import Interactions
from cfjax.explain.common import Selection, related_influences
from cfjax.models.base import Recommender
from cfjax.types import Params


def fia_influences(model: Recommender, params: Params, train: Interactions, users: np.ndarray,
                   history_rows: np.ndarray, top_items: np.ndarray, *, damping: float = 1e-6,
                   chunk_size: int = 16, item_width: int | None = None) -> np.ndarray:
  """FIA influences I(z, y_u,t) of every history row z on every top-k item t (ACCENT eq. 5).

  One jitted, vmapped computation over all B * K (user, target) pairs.

  Args:
    model, params: the trained recommender.
    train: its training interactions.
    users: int[B].
    history_rows: int32[B, R] each user's padded training rows (`pad_histories`).
    top_items: int[B, K] each user's top-k list (rec first).
    damping: lambda added to FIA's Hessian (1e-6 in ACCENT's NCF code).
    chunk_size: pairs per vmapped chunk.
    item_width: static pad width of the target items' rows (default: batch max, rounded).

  Returns:
    float[B, K, R]: I(z_r, y_{u, top_items[b, j]}), 0 at padding.
  """
  num_users, k = top_items.shape
  pair_users = np.repeat(np.asarray(users), k)
  pair_rows = np.repeat(history_rows, k, axis=0)
  influence = related_influences(model, params, train, pair_rows, pair_users,
                                 np.asarray(top_items).ravel(), damping=damping,
                                 solver="explicit", subset="target", chunk_size=chunk_size,
                                 item_width=item_width)
  return influence.reshape(num_users, k, history_rows.shape[1])


def _check_inputs(scores: np.ndarray, influence: np.ndarray, valid: np.ndarray) -> None:
  if scores.ndim != 1 or scores.shape[0] < 2:
    raise ValueError(f"scores has shape {scores.shape}; pass the [K] top-k scores with K >= 2")
  if influence.shape != (scores.shape[0], valid.shape[0]):
    raise ValueError(f"influence has shape {influence.shape}, expected [K, R] = "
                     f"{(scores.shape[0], valid.shape[0])}; pass one row per top-k item")


def order_by_influence(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
  """Positions of the valid rows by decreasing value, ties to the lower position (stable)."""
  positions = np.flatnonzero(valid)
  return positions[np.argsort(-values[positions], kind="stable")]


def _best_other(scores: np.ndarray) -> int:
  return int(np.argmax(scores[1:])) + 1  # ties to the better original rank


def pure_fia_select(scores, influence, valid) -> Selection:
  """Pure FIA (ACCENT Sec. 3.3.2): remove rows by decreasing I(z, y_u,rec) until rec is displaced.

  Rows are visited in decreasing order of their influence on rec's score (ties: lower
  position first) and EVERY visited row is removed; after each removal all top-k scores are
  updated additively (eq. 7: y^{-Z} = y - sum_{z in Z} I(z, y)). It stops as soon as some other
  top-k item's predicted score exceeds rec's (strictly); that item (the highest, ties to the
  better original rank) is the replacement. If all rows are removed without displacing rec,
  the selection fails. (As in ACCENT's code, rows with negative influence are not skipped.)

  Args:
    scores: float[K] the top-k predicted scores, rec first (descending).
    influence: float[K, R] I(z_r, y_{u, top-k item j}).
    valid: bool[R] real (non-padding) history rows.

  Returns:
    The `Selection`.
  """
  scores, influence = np.asarray(scores, np.float64), np.asarray(influence, np.float64)
  valid = np.asarray(valid, bool)
  _check_inputs(scores, influence, valid)
  current, removed = scores.copy(), []
  replacement = _best_other(current)
  gap = current[0] - current[replacement]
  for position in order_by_influence(influence[0], valid):
    current = current - influence[:, position]
    removed.append(int(position))
    replacement = _best_other(current)
    gap = current[0] - current[replacement]
    if gap < 0:
      return Selection(tuple(removed), replacement, float(gap), True, current)
  return Selection(tuple(removed), -1, float(gap), False, current)


def fia_select(scores, influence, valid) -> Selection:
  """FIA (ACCENT Sec. 3.3.2): pure FIA's order, keeping a row only if it shrinks the gap.

  Rows are visited in decreasing order of I(z, y_u,rec). A row is kept only if removing it
  (on top of the rows kept so far, eq. 7) makes the gap between rec and the then
  second-ranked top-k item, y_rec - max_{j != rec} y_j, strictly smaller; otherwise it is
  skipped. It stops when that gap is negative (rec displaced; the replacement is the
  second-ranked item then, ties to the better original rank), or fails after the last row.

  Args:
    scores: float[K] the top-k predicted scores, rec first.
    influence: float[K, R] I(z_r, y_{u, top-k item j}).
    valid: bool[R].

  Returns:
    The `Selection`.
  """
  scores, influence = np.asarray(scores, np.float64), np.asarray(influence, np.float64)
  valid = np.asarray(valid, bool)
  _check_inputs(scores, influence, valid)
  current, kept = scores.copy(), []
  replacement = _best_other(current)
  gap = current[0] - current[replacement]
  for position in order_by_influence(influence[0], valid):
    trial = current - influence[:, position]
    trial_replacement = _best_other(trial)
    trial_gap = trial[0] - trial[trial_replacement]
    if trial_gap < gap:
      current, replacement, gap = trial, trial_replacement, trial_gap
      kept.append(int(position))
      if gap < 0:
        return Selection(tuple(kept), replacement, float(gap), True, current)
  return Selection(tuple(kept), -1, float(gap), False, current)
