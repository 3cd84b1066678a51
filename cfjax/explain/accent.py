"""ACCENT (Tran et al., SIGIR 2021, Algorithm 1) and its FIA baselines, batched over users.

For user u with top-k list (rec, c_1, ..., c_{k-1}) over unseen items, ACCENT tries every
candidate replacement c: the influence of a history row z on the score gap is
I(z, y_rec - y_c) = I(z, y_rec) - I(z, y_c) (eq. 6), the influence of a set is the sum
(eq. 7), and rows are added greedily by decreasing gap influence until the predicted gap is
closed (eq. 8). The smallest successful set over all candidates is the explanation.

The explainer "accent" is `fia.InfluenceSelection` with this file's rule: the FIA influence
matrix I(z, y_{u,t}) of every user, top-k item t and history row comes from ONE batched
computation shared with "fia" and "pure_fia" on the same context; `accent_select` then runs
on the host, per user, on the [K, R] matrix. Its per-item attributions are fia.py's
(`InfluenceSelection.attributions`, from the same shared influences).
"""

from __future__ import annotations

import functools

import numpy as np

from cfjax.explain.base import register
from cfjax.explain.fia import InfluenceSelection, Selection, order_by_influence


def greedy_gap_fill(gap: float, gap_influence, valid) -> tuple[tuple[int, ...], float]:
  """The inner loop of ACCENT's Algorithm 1 for one candidate replacement (eq. 8).

  Sorts the rows by decreasing I(z, y_rec - y_rep) (ties: lower position first) and adds them
  while the gap is not yet negative and the next row's gap influence is positive:
  "if gap < 0 or I(z, .) <= 0: break; gap -= I(z, .)".

  Args:
    gap: y_rec - y_rep before any removal.
    gap_influence: float[R] I(z_r, y_rec - y_rep).
    valid: bool[R] real history rows.

  Returns:
    (positions added, in order; the final predicted gap). Success iff the gap is < 0.
  """
  gap_influence = np.asarray(gap_influence, np.float64)
  order = order_by_influence(gap_influence, np.asarray(valid, bool))
  values = gap_influence[order]
  # Vectorised: the first prefix (of positive values only) whose sum exceeds the gap.
  usable = int(np.argmax(values <= 0)) if np.any(values <= 0) else len(values)
  if gap < 0:
    return (), float(gap)
  remaining = gap - np.cumsum(values[:usable])
  closed = np.flatnonzero(remaining < 0)
  size = int(closed[0]) + 1 if closed.size else usable
  final = float(remaining[size - 1]) if size else float(gap)
  return tuple(int(p) for p in order[:size]), final


def accent_select(scores, influence, valid) -> Selection:
  """ACCENT's Algorithm 1 on one user's influence matrix.

  For each candidate replacement j = 1..K-1 (top-k order) runs `greedy_gap_fill` with
  gap = y_rec - y_j and I(z, y_rec - y_j) = influence[0] - influence[j] (eq. 6). Among the
  candidates whose predicted gap closes (< 0), the smallest set wins; ties go to the LARGER
  remaining margin, i.e. the more negative final gap (as in ACCENT's code), then to the
  better-ranked candidate. If no candidate succeeds the selection fails (ACCENT returns no
  explanation); `positions`/`gap` then describe the candidate with the smallest final gap.

  Args:
    scores: float[K] the top-k predicted scores, rec first.
    influence: float[K, R] I(z_r, y_{u, top-k item j}) (eq. 5).
    valid: bool[R].

  Returns:
    The `Selection` (scores: the predicted top-k scores after removing the winning set).
  """
  scores, influence = np.asarray(scores, np.float64), np.asarray(influence, np.float64)
  valid = np.asarray(valid, bool)
  if scores.ndim != 1 or scores.shape[0] < 2 or influence.shape != (scores.shape[0],
                                                                       valid.shape[0]):
    raise ValueError(f"scores {scores.shape} and influence {influence.shape} must be [K] and "
                     f"[K, R] with K >= 2 and R = {valid.shape[0]}; pass the top-k matrices")
  best = None  # (size, final gap, j, positions)
  fallback = None
  for j in range(1, scores.shape[0]):
    positions, final = greedy_gap_fill(scores[0] - scores[j], influence[0] - influence[j],
                                       valid)
    if final < 0:
      if best is None or (len(positions), final) < (best[0], best[1]):
        best = (len(positions), final, j, positions)
    elif fallback is None or final < fallback[1]:
      fallback = (len(positions), final, j, positions)
  chosen, success = (best, True) if best is not None else (fallback, False)
  _, final, j, positions = chosen
  after = scores - influence[:, list(positions)].sum(axis=1)
  return Selection(positions, j if success else -1, float(final), success, after)


register("accent", functools.partial(InfluenceSelection, name="accent", rule=accent_select))
