"""ACCENT (Tran et al., SIGIR 2021, Algorithm 1) and its FIA baselines, batched over users.

For user u with top-k list (rec, c_1, ..., c_{k-1}) over unseen items, ACCENT tries every
candidate replacement c: the influence of a history row z on the score gap is
I(z, y_rec - y_c) = I(z, y_rec) - I(z, y_c) (eq. 6), the influence of a set is the sum
(eq. 7), and rows are added greedily by decreasing gap influence until the predicted gap is
closed (eq. 8). The smallest successful set over all candidates is the explanation.

`explain_accent_family` computes the FIA influence matrix I(z, y_{u,t}) for every user, every
top-k item t and every history row in ONE batched computation (`fia.fia_influences`), then
applies the selection rules (`accent_select`, `fia.pure_fia_select`, `fia.fia_select`) on the
host, per user, on the [K, R] matrices.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from cfjax.data.interactions import Interactions
from cfjax.explain.common import Explanation, Selection, check_users, pad_histories, top_k_lists
from cfjax.explain.fia import fia_influences, fia_select, order_by_influence, pure_fia_select
from cfjax.models.base import Recommender
from cfjax.types import Params

METHODS = ("pure_fia", "fia", "accent")


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


_RULES = {"pure_fia": pure_fia_select, "fia": fia_select, "accent": accent_select}


def _record(method: str, user: int, top_items: np.ndarray, top_scores: np.ndarray,
            items: np.ndarray, influence: np.ndarray, valid: np.ndarray, selection: Selection,
            k: int, seconds_per_pair: float) -> Explanation:
  deleted = tuple(int(items[p]) for p in selection.positions) if selection.success else ()
  order = order_by_influence(influence[0], valid)
  extra = {
      "k": k,
      "failed": not selection.success,
      "top_k": [int(i) for i in top_items],
      "top_k_scores": [float(s) for s in top_scores],
      "predicted_gap": selection.gap,
      "initial_gap": float(top_scores[0] - top_scores[1]),
      "predicted_scores": [float(s) for s in selection.scores],
      "influence_order": [int(items[p]) for p in order],
      "influence_on_rec": [float(influence[0, p]) for p in order],
      "attempted_items": [int(items[p]) for p in selection.positions],
      "seconds_per_pair": seconds_per_pair,
  }
  replacement = int(top_items[selection.replacement]) if selection.success else None
  return Explanation(user, int(top_items[0]), deleted, replacement, method, extra)


def explain_accent_family(model: Recommender, params: Params, train: Interactions,
                          users: Sequence[int], *, k: int,
                          methods: Sequence[str] = METHODS, damping: float = 1e-6,
                          chunk_size: int = 16, history_width: int | None = None,
                          item_width: int | None = None) -> dict[str, list[Explanation]]:
  """Explains each user's top-1 with ACCENT (Algorithm 1), pure FIA and FIA (Sec. 3.3.2).

  rec = the user's top-1 unseen item, the candidates = the rest of the top-k
  (`cfjax.rank.top_k`). The FIA influences (eq. 4-5, restricted to the embedding rows of u and
  the target, Hessian over the related rows, damping) of every history row on every top-k
  score come from ONE batched computation over all users; the selection rules run per user on
  the host.

  A failure (no set closes the predicted gap) gives a record with deleted_items=(),
  replacement=None and extra["failed"]=True: it is NOT the empty explanation. A runner should
  not retrain it but count it as not counterfactual (ACCENT's CF percentage is over all
  users) and leave it out of the average set size.

  Args:
    model, params: the trained recommender.
    train: its training interactions.
    users: the users to explain (each needs >= 1 training row).
    k: top-k size (>= 2): the candidate replacements are top-2..top-k.
    methods: any of "pure_fia", "fia", "accent".
    damping: lambda of FIA's Hessian (1e-6 as in ACCENT's NCF code).
    chunk_size: (user, target) pairs per vmapped chunk (memory bound).
    history_width: static pad width of histories (default batch max, rounded up to 32).
    item_width: static pad width of the target items' rows (default batch max, rounded).

  Returns:
    {method: [Explanation per user]}; extra holds k, the top-k and scores, predicted and
    initial gaps, predicted scores after removal, the influence ordering on rec's score, and
    seconds_per_pair (the batched influence computation / B, plus the method's selection).
  """
  unknown = [m for m in methods if m not in _RULES]
  if unknown:
    raise ValueError(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
  if int(k) < 2:
    raise ValueError(f"k={k} leaves no candidate replacement; pass k >= 2")
  users = check_users(train, users, 1, "an explanation deletes history items")
  start = time.perf_counter()
  top_items, top_scores = top_k_lists(model, params, train, users, int(k))
  rows, items = pad_histories(train, users, history_width)
  influence = fia_influences(model, params, train, users, rows, top_items, damping=damping,
                             chunk_size=chunk_size, item_width=item_width)
  shared = (time.perf_counter() - start) / len(users)
  results = {}
  for method in methods:
    records = []
    for b, user in enumerate(users):
      tick = time.perf_counter()
      selection = _RULES[method](top_scores[b], influence[b], rows[b] >= 0)
      seconds = shared + time.perf_counter() - tick
      records.append(_record(method, int(user), top_items[b], top_scores[b], items[b],
                             influence[b], rows[b] >= 0, selection, int(k), seconds))
    results[method] = records
  return results
