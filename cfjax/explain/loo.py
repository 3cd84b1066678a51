"""FIA and ACCENT for amortised models as Wen et al. adapt them (footnote 9): loo_fia, loo_accent.

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

import dataclasses
import functools
import time
from typing import Callable, ClassVar

import jax.numpy as jnp
import numpy as np

from cfjax.explain.base import ExplainContext, Targets, register
from cfjax.explain.lcer import dense_rows
from cfjax.util import check_int
from cfjax.records import Explanation


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


def _loo_scores(ctx: ExplainContext, user: int) -> tuple[np.ndarray, np.ndarray]:
  """(hist, scores [n + 1, I]) of `user`'s leave-one-out rows, cached on the context."""
  score_rows = ctx.model.require("score_rows", "the leave-one-out influences")
  return ctx.cached(("loo_scores", int(user)), lambda: leave_one_out_scores(
      score_rows, ctx.params, dense_rows(ctx.train, [user])[0]))


@dataclasses.dataclass(frozen=True)
class LeaveOneOut:
  """FIA or ACCENT over leave-one-out influences I(j, y_t) = g_t(x_u) - g_t(x_u - e_j).

  Attributes:
    name: "loo_fia" (the single most influential item; not a counterfactual method) or
      "loo_accent" (greedy gap filling against the user's (k+1)-th item, the replacement).
    k: the list length K (the replacement of loo_accent is the (K+1)-th item).
  """

  name: str = "loo_fia"
  k: int = 5
  requires = ("score_rows",)
  cost: ClassVar[str] = "fast"

  def __post_init__(self):
    if self.name not in ("loo_fia", "loo_accent"):
      raise ValueError(f"LeaveOneOut name {self.name!r} must be 'loo_fia' or 'loo_accent'")
    check_int(self.k, f"{self.name}: k", minimum=1)

  def attributions(self, ctx: ExplainContext, targets: Targets) -> list[dict[int, float]]:
    """[B] {history item j: I(j, y_i) = g_i(x_u) - g_i(x_u - e_j)}, the target's exact
    leave-one-out score drop (the same cached forward passes as `explain`; loo_fia and
    loo_accent give the same). The runner-up's change is not subtracted, so as a margin
    decrease (`cfjax.explain.base`) it is exact in the target's score only."""
    ctx.check_targets(targets)
    out = []
    for user, item in targets:
      hist, scores = _loo_scores(ctx, user)
      out.append(dict(zip(hist.tolist(), (scores[0, item] - scores[1:, item]).tolist())))
    return out

  def explain(self, ctx: ExplainContext, targets: Targets) -> list[Explanation]:
    """[B] records; loo_accent's name its replacement, an empty set means not found."""
    if self.name not in ("loo_fia", "loo_accent"):
      raise ValueError(f"LeaveOneOut name {self.name!r} must be 'loo_fia' or 'loo_accent'")
    ctx.check_targets(targets)
    replacements = ctx.top_k(targets.users, int(self.k) + 1)[0][:, int(self.k)]
    records = []
    for (user, item), replacement in zip(targets, replacements):
      start = time.perf_counter()
      hist, scores = _loo_scores(ctx, user)
      if self.name == "loo_fia":
        chosen, replacement = fia_select(hist, scores, item), None
      else:
        chosen = accent_select(hist, scores, item, int(replacement))
      records.append(Explanation(user, item, chosen,
                                 None if replacement is None else int(replacement), self.name,
                                 {"k": int(self.k), "seconds": time.perf_counter() - start}))
    return records


register("loo_fia", functools.partial(LeaveOneOut, name="loo_fia"))
register("loo_accent", functools.partial(LeaveOneOut, name="loo_accent"))
