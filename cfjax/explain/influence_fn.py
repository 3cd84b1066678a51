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

import time
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from cfjax.data.interactions import Interactions
from cfjax.explain.common import (Explanation, check_users, make_full_influence_fn,
                                  pad_histories, related_influences)
from cfjax.influence import check_converged
from cfjax.models.base import Recommender
from cfjax.train.fit import to_train_data
from cfjax.types import Params


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


def default_chunk_size(hessian_rows: str) -> int:
  """Pairs per vmapped chunk: 1 for the full Hessian on CPU, else 16.

  With hessian_rows="all" every HVP runs over all N training rows; vmapped over 16 pairs on
  XLA:CPU its gathers/scatter-adds with a pair axis cost more than 16 one-pair HVPs (the
  engine's finding, docs/engine.md): `python -m benchmarks.explain_time` measured 2.6 s/pair
  at 16 vs 0.8 s/pair one at a time on NCF. Chunks of 1 run the pairs one after another
  inside the same compiled `lax.map` call.
  """
  return 1 if hessian_rows == "all" and jax.default_backend() == "cpu" else 16


def influence_function_influences(model: Recommender, params: Params, train: Interactions,
                                  users: np.ndarray, items: np.ndarray, history_rows: np.ndarray,
                                  *, solver: str = "minres", subset: str | None = None,
                                  hessian_rows: str = "all", damping: float = 0.01,
                                  max_iters: int = 100, tol: float = 1e-6,
                                  chunk_size: int | None = None, item_width: int | None = None,
                                  on_fail: str = "warn") -> tuple[np.ndarray, dict | None]:
  """I(z, y_ui) = -Delta f(z) (Yao et al. eq. 10) for every pair's history rows, float[B, R].

  One jitted call over all pairs (`lax.map` over vmapped chunks). hessian_rows="all" uses the
  whole training set (shared by all pairs); "related" uses FIA's compact related rows.

  Returns:
    (influence float[B, R], None or the per-pair CG report as numpy: iterations [B],
    residual_norm [B], converged [B]).
  """
  chunk_size = default_chunk_size(hessian_rows) if chunk_size is None else int(chunk_size)
  if hessian_rows == "related":
    return related_influences(model, params, train, history_rows, users, items,
                              damping=damping, solver=solver, subset=subset,
                              chunk_size=chunk_size, item_width=item_width,
                              on_fail=on_fail), None
  if hessian_rows != "all":
    raise ValueError(f"hessian_rows={hessian_rows!r} is not 'all' or 'related'; pass one of "
                     "those")
  fn = make_full_influence_fn(model, damping=float(damping), solver=solver, subset=subset,
                              chunk_size=int(chunk_size), tol=float(tol),
                              max_iters=int(max_iters))
  influence, report = fn(params, to_train_data(train), jnp.asarray(users, jnp.int32),
                         jnp.asarray(items, jnp.int32), jnp.asarray(history_rows))
  if report is None:
    return np.asarray(influence), None
  check_converged(report, on_fail=on_fail)
  return np.asarray(influence), {name: np.asarray(value) for name, value in
                                 report._asdict().items()}


def explain_influence_function(model: Recommender, params: Params, train: Interactions,
                               users: Sequence[int], items: Sequence[int], *, e: int = 3,
                               solver: str = "minres", subset: str | None = None,
                               hessian_rows: str = "all", damping: float = 0.01,
                               max_iters: int = 100, tol: float = 1e-6,
                               chunk_size: int | None = None,
                               history_width: int | None = None,
                               item_width: int | None = None,
                               on_fail: str = "warn") -> list[Explanation]:
  """Yao et al.'s influence-function explanations (eq. 10), batched over (user, item) pairs.

  Args:
    model, params: the trained recommender.
    train: its training interactions.
    users, items: [B] the pairs (u, i) to explain (i is usually u's top-1 unseen item).
    e: explanation size (3 in Yao et al.); every user needs >= e training rows.
    solver: "minres" (default; H may be indefinite), "cg", "explicit" or "lissa" (see
      `make_score_change_fn`).
    subset: None (all parameters, default) or "target" (FIA's embedding rows of u and i).
    hessian_rows: "all" (default) or "related" (FIA's rows of u or i).
    damping: lambda added to H (0.01: NCF's Hessian is not positive definite).
    max_iters, tol: MINRES/CG iteration cap and relative tolerance.
    chunk_size: pairs per vmapped chunk (default `default_chunk_size`).
    history_width, item_width: static pad widths (default: batch max, rounded up to 32).
    on_fail: what a non-converged MINRES/CG solve does: "warn", "raise" or "ignore".

  Returns:
    One `Explanation` per pair, method "influence_function", replacement None; extra holds
    e, the chosen items' predicted score changes, the influence ordering, seconds_per_pair
    and, for MINRES/CG, the pair's cg_iterations / cg_residual / cg_converged.
  """
  if int(e) < 1:
    raise ValueError(f"e={e} must be >= 1; pass the explanation size")
  users = check_users(train, users, int(e), f"e={e} items are deleted")
  items = np.asarray(items, dtype=np.int64).ravel()
  if items.shape != users.shape:
    raise ValueError(f"{len(users)} users but {len(items)} items; pass one item per user")
  if items.min() < 0 or items.max() >= train.num_items:
    raise ValueError(f"item ids must lie in [0, {train.num_items}); got "
                     f"{items.min()}..{items.max()}")
  start = time.perf_counter()
  rows, history_items = pad_histories(train, users, history_width)
  influence, report = influence_function_influences(
      model, params, train, users, items, rows, solver=solver, subset=subset,
      hessian_rows=hessian_rows, damping=damping, max_iters=max_iters, tol=tol,
      chunk_size=chunk_size, item_width=item_width, on_fail=on_fail)
  seconds = (time.perf_counter() - start) / len(users)
  records = []
  for b, (user, item) in enumerate(zip(users, items)):
    valid = rows[b] >= 0
    chosen = select_top_e(influence[b], valid, int(e))
    order = np.flatnonzero(valid)[np.argsort(-influence[b][valid], kind="stable")]
    extra = {"e": int(e), "predicted_score_change": [float(-influence[b, p]) for p in chosen],
             "predicted_total_change": float(-influence[b, chosen].sum()),
             "influence_order": [int(history_items[b, p]) for p in order],
             "solver": solver, "subset": subset, "hessian_rows": hessian_rows,
             "damping": float(damping), "seconds_per_pair": seconds}
    if report is not None:
      extra.update(cg_iterations=int(report["iterations"][b]),
                   cg_residual=float(report["residual_norm"][b]),
                   cg_converged=bool(report["converged"][b]))
    records.append(Explanation(int(user), int(item),
                               tuple(int(history_items[b, p]) for p in chosen), None,
                               "influence_function", extra))
  return records
