"""The influence-function baseline of Yao et al. (eq. 10): the top-e history items by influence.

For a (user u, target item i) pair, the predicted change of f(u, i) when training row z of u is
removed is Delta f(z) = +(1/n) grad f(u, i)^T H^{-1} grad L_z (Yao et al. eq. 10; the toolkit's
`score_change`). The explanation is the e items (e = 3 in Yao et al.) whose removal
decreases the score most, i.e. the e most negative Delta f (largest influence
I(z, y_ui) = -Delta f, ACCENT eq. 5). By default theta is every parameter, H the Hessian of
the whole training loss, solved by MINRES (a trained NCF's Hessian is indefinite, where CG
breaks down: on 10 ACCENT-data pairs CG stopped after ~14 iterations with a residual of 1.3,
MINRES reached 5e-3 in 100 and converged with damping 0.1); `subset="target"` with `hessian_rows="related"`
restricts it to FIA's parameters instead. All pairs run in one batched computation.
"""

from __future__ import annotations

import dataclasses
import time
from typing import ClassVar

import jax
import numpy as np

from cfjax.data.interactions import padded_histories
from cfjax.explain.base import ExplainContext, Targets, register
from cfjax.influence import full_influences, related_influences
from cfjax.util import check_int, check_number
from cfjax.records import Explanation


def select_top_e(influence, valid, e: int) -> np.ndarray:
  """Positions of the e valid rows with the largest influence I(z, y_ui) (Yao et al. eq. 10).

  Largest influence = largest predicted score DECREASE on removal; ties go to the lower
  position (stable sort).

  Args:
    influence: float[R] I(z_r, y_ui) = -score_change.
    valid: bool[R].
    e: explanation size.

  Returns:
    int[e] positions, most influential first.
  """
  influence, valid = np.asarray(influence, np.float64), np.asarray(valid, bool)
  if valid.sum() < e:
    raise ValueError(f"only {int(valid.sum())} history rows for e={e}; lower e")
  positions = np.flatnonzero(valid)
  return positions[np.argsort(-influence[positions], kind="stable")[:e]]


def default_targets_per_batch(hessian_rows: str) -> int:
  """Pairs vmapped together: 1 for the full Hessian on CPU, else 16.

  With hessian_rows="all" every HVP runs over all N training rows; vmapped over 16 pairs on
  XLA:CPU its gathers/scatter-adds with a pair axis cost more than 16 one-pair HVPs (the
  engine's finding, docs/engine.md): `python -m benchmarks.explain_time` measured 2.6 s/pair
  at 16 vs 0.8 s/pair one at a time on NCF. Chunks of 1 run the pairs one after another
  inside the same compiled `lax.map` call.
  """
  return 1 if hessian_rows == "all" and jax.default_backend() == "cpu" else 16


@register("influence_function")
@dataclasses.dataclass(frozen=True)
class InfluenceFunction:
  """Yao et al.'s influence-function explanations (eq. 10), batched over targets.

  Attributes:
    e: explanation size (3 in Yao et al.); every user needs >= e training rows.
    solver: "minres" (default; H may be indefinite), "cg", "explicit" or "lissa" (see
      `cfjax.influence.make_score_change_fn`).
    subset: None (all parameters, default) or "target" (FIA's embedding rows of u and i,
      through the model's `related_rows` hook).
    hessian_rows: "all" (default) or "related" (FIA's rows of u or i).
    damping: lambda added to H (0.01: NCF's Hessian is not positive definite).
    max_iters, tol: MINRES/CG iteration cap and relative tolerance.
    targets_per_batch: (user, target) pairs vmapped together (lax.map's batch size inside
      one compiled call; default `default_targets_per_batch`).
    history_width, item_width: static pad widths (default: batch max, rounded up to 32).
    on_fail: what a non-converged MINRES/CG solve does: "warn", "raise" or "ignore"; each
      record says whether its solve converged either way.
  """

  e: int = 3
  solver: str = "minres"
  subset: str | None = None
  hessian_rows: str = "all"
  damping: float = 0.01
  max_iters: int = 100
  tol: float = 1e-6
  targets_per_batch: int | None = None
  history_width: int | None = None
  item_width: int | None = None
  on_fail: str = "warn"
  name: str = "influence_function"

  def __post_init__(self):
    check_int(self.e, "influence_function: e", minimum=1)
    check_number(self.damping, "influence_function: damping", minimum=0)
    check_int(self.max_iters, "influence_function: max_iters", minimum=1)
    check_number(self.tol, "influence_function: tol", minimum=0)
    for name, value, choices in (("solver", self.solver, ("minres", "cg", "explicit", "lissa")),
                                 ("subset", self.subset, (None, "target")),
                                 ("hessian_rows", self.hessian_rows, ("all", "related")),
                                 ("on_fail", self.on_fail, ("warn", "raise", "ignore"))):
      if value not in choices:
        raise ValueError(f"influence_function: {name}={value!r} is not one of {choices}")

  cost: ClassVar[str] = "fast"

  @property
  def requires(self) -> tuple[str, ...]:
    return ("row_losses",) + (("related_rows",) if self.subset == "target" else ())

  def influences(self, ctx: ExplainContext, targets: Targets,
                 history_rows: np.ndarray) -> tuple[np.ndarray, dict | None]:
    """I(z, y_ui) = -Delta f(z) (Yao et al. eq. 10) of each target's history rows, [B, R],
    and the per-target solver report (iterations, residual_norm, converged) or None."""
    if self.hessian_rows not in ("all", "related"):
      raise ValueError(f"hessian_rows={self.hessian_rows!r} is not 'all' or 'related'; pass "
                       "one of those")
    per_batch = (default_targets_per_batch(self.hessian_rows) if self.targets_per_batch is None
                 else int(self.targets_per_batch))
    if self.hessian_rows == "related":
      return related_influences(ctx.model, ctx.params, ctx.train, history_rows, targets.users,
                                targets.items, damping=self.damping, solver=self.solver,
                                subset=self.subset, targets_per_batch=per_batch,
                                item_width=self.item_width, on_fail=self.on_fail), None
    return full_influences(ctx.model, ctx.params, ctx.train, history_rows, targets.users,
                           targets.items, damping=self.damping, solver=self.solver,
                           subset=self.subset, targets_per_batch=per_batch, tol=self.tol,
                           max_iters=self.max_iters, on_fail=self.on_fail)

  def history_influences(self, ctx: ExplainContext, targets: Targets):
    """`influences` of every target's padded history, cached on `ctx` by the targets and
    every setting, so `explain` and `attributions` on one context solve once.

    Returns:
      (rows int32[B, R], items int32[B, R] as `padded_histories`, influence float[B, R],
      the solver report or None, seconds per target of the computation).
    """
    key = ("influence_function", targets.users.tobytes(), targets.items.tobytes(),
           self.solver, self.subset, self.hessian_rows, float(self.damping),
           int(self.max_iters), float(self.tol), self.targets_per_batch, self.history_width,
           self.item_width, self.on_fail)

    def compute():
      start = time.perf_counter()
      rows, history_items = padded_histories(ctx.train, targets.users, self.history_width)
      influence, report = self.influences(ctx, targets, rows)
      return (rows, history_items, influence, report,
              (time.perf_counter() - start) / len(targets))

    return ctx.cached(key, compute)

  def attributions(self, ctx: ExplainContext, targets: Targets) -> list[dict[int, float]]:
    """[B] {history item: I(z, y_ui) = -Delta f(z)}, Yao et al. eq. 10 for every history row.

    The predicted decrease of the target's SCORE when the row alone is removed; the
    runner-up's change is not subtracted, so as a margin decrease (`cfjax.explain.base`) it
    is first order in the target alone. That matters: on ML-100K MF (10 users, 8 random
    half-history deletions, paired scratch retraining) its linear datamodeling score was
    0.67 against the target's retrained score drop but 0.07 against its margin drop, where
    the runner-up moves as much as the target (`cfjax.evaluate.lds`). Shares `explain`'s
    computation (`history_influences`).
    """
    ctx.check_targets(targets)
    rows, history_items, influence, _, _ = self.history_influences(ctx, targets)
    return [{int(history_items[b, p]): float(influence[b, p]) for p in np.flatnonzero(valid)}
            for b, valid in enumerate(rows >= 0)]

  def explain(self, ctx: ExplainContext, targets: Targets) -> list[Explanation]:
    """[B] records, replacement None; extra holds e, the chosen items' predicted score
    changes, the influence ordering, seconds_per_pair and, for MINRES/CG, the target's
    cg_iterations / cg_residual / cg_converged."""
    e = int(self.e)
    if e < 1:
      raise ValueError(f"e={self.e} must be >= 1; pass the explanation size")
    ctx.check_targets(targets, min_history=e, reason=f"e={e} items are deleted")
    rows, history_items, influence, report, seconds = self.history_influences(ctx, targets)
    records = []
    for b, (user, item) in enumerate(targets):
      valid = rows[b] >= 0
      chosen = select_top_e(influence[b], valid, e)
      order = np.flatnonzero(valid)[np.argsort(-influence[b][valid], kind="stable")]
      extra = {"e": e, "predicted_score_change": [float(-influence[b, p]) for p in chosen],
               "predicted_total_change": float(-influence[b, chosen].sum()),
               "influence_order": [int(history_items[b, p]) for p in order],
               "solver": self.solver, "subset": self.subset,
               "hessian_rows": self.hessian_rows, "damping": float(self.damping),
               "seconds_per_pair": seconds}
      if report is not None:
        extra.update(cg_iterations=int(report["iterations"][b]),
                     cg_residual=float(report["residual_norm"][b]),
                     cg_converged=bool(report["converged"][b]))
      records.append(Explanation(user, item, tuple(int(history_items[b, p]) for p in chosen),
                                 None, self.name, extra))
    return records
