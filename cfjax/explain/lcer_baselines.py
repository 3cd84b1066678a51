"""FIA and ACCENT adapted to Mult-VAE as Wen et al. do (footnote 9), for LCER's Table 2.

Influence functions need per-user parameters, which an amortised model does not have. Following
Wen et al., footnote 9, the influence of an interacted item j on a score is approximated by the
score change when j alone is removed from the user's input row:

  I(j, y_t) = g_t(x_u) - g_t(x_u without j).

* FIA (Cheng et al.): the explanation of (u, i) is the single most influential item,
  argmax_j I(j, y_i). It is not a counterfactual method, so Table 2 reports no validity for it.
* ACCENT (Tran et al., Algorithm 1) with the replacement fixed to the (K+1)-th item r
  (Wen et al., section 4.1): gap = g_i(x_u) - g_r(x_u); items are taken by decreasing
  I(j, y_i - y_r) = I(j, y_i) - I(j, y_r) while gap >= 0 and the next influence is positive,
  subtracting each influence from the gap; the set is returned when the estimated gap becomes
  negative, else the explanation is empty (not found).

Both need the scores of x_u and of its n leave-one-out rows: n + 1 forward passes per user, done
in one batched call per user (rows padded to a multiple of 32, so few compiles).
"""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp
import numpy as np


def leave_one_out_scores(score_fn: Callable, params, x_row, *, multiple: int = 32):
  """Host: (hist int[n], scores float[n + 1, I]): row 0 scores x, row j + 1 scores x - e_hist[j].

  Args:
    score_fn: (params, x[B, I]) -> scores[B, I].
    params: its params.
    x_row: [I] binary input row.
    multiple: batch rows are padded to a multiple of this (fewer distinct compiles).
  """
  x_row = np.asarray(x_row, np.float32)
  hist = np.flatnonzero(x_row > 0)
  rows = np.repeat(x_row[None], len(hist) + 1, axis=0)
  rows[np.arange(1, len(hist) + 1), hist] = 0.0
  size = -(-len(rows) // multiple) * multiple
  padded = np.concatenate([rows, np.repeat(rows[:1], size - len(rows), axis=0)])
  return hist, np.asarray(score_fn(params, jnp.asarray(padded)))[:len(rows)]


def fia_select(hist, scores, item: int) -> tuple[int, ...]:
  """FIA: the item whose removal lowers g_item the most (ties: the first in `hist`)."""
  influence = scores[0, item] - scores[1:, item]
  return (int(hist[int(np.argmax(influence))]),) if len(hist) else ()


def accent_select(hist, scores, item: int, replacement: int) -> tuple[int, ...]:
  """ACCENT's greedy gap filling with the replacement fixed (see the module docstring)."""
  gap = float(scores[0, item] - scores[0, replacement])
  influence = gap - (scores[1:, item] - scores[1:, replacement])
  chosen = []
  for j in np.argsort(-influence, kind="stable"):
    if gap < 0 or influence[j] <= 0:
      break
    gap -= float(influence[j])
    chosen.append(int(hist[j]))
  return tuple(chosen) if gap < 0 else ()


def explain_fia_accent(score_fn: Callable, params, x_rows, top) -> dict:
  """FIA and ACCENT explanations of every (row, position) pair of the top-K lists.

  Args:
    score_fn: the recommender g.
    params: its params.
    x_rows: [U, I] factual rows.
    top: int[U, K + 1] each row's top-K list plus its (K+1)-th item (`lcer.top_k_pairs`).

  Returns:
    {"fia": [U * K tuples], "accent": [U * K tuples]} in row-major (row, position) order.
  """
  top = np.asarray(top)
  k = top.shape[1] - 1
  out = {"fia": [], "accent": []}
  for u, x_row in enumerate(np.asarray(x_rows)):
    hist, scores = leave_one_out_scores(score_fn, params, x_row)
    for item in top[u, :k]:
      out["fia"].append(fia_select(hist, scores, int(item)))
      out["accent"].append(accent_select(hist, scores, int(item), int(top[u, k])))
  return out
