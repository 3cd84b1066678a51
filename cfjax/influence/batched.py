"""Influences of training rows on predicted scores for MANY (user, target) pairs at once.

Every influence explainer needs, for many (user u, target item t) pairs, the influence of
each of u's training rows z on the predicted score f(u, t). The heavy part is one
inverse-HVP per pair (`make_score_change_fn`); it runs for all pairs in ONE jitted call:
`lax.map` over the pairs in vmapped batches of `targets_per_batch` (bounded memory).
Histories are padded to a static width with -1 (masked), so one compile serves every batch
of the same padded shape.

Sign convention. The toolkit returns score_change(z) = f^{-z}(u, t) - f(u, t). The functions
here return ACCENT's influence (Tran et al., eq. 5), I(z, y_ut) = y_ut - y_ut^{-z} =
-score_change: positive = removing z LOWERS the score.

FIA's related rows. With hessian_rows="related" (FIA, Cheng et al. 2019, as ACCENT uses it)
only the rows of user u or item t enter the Hessian's loss; all other rows have weight 0.
`related_data` therefore hands the toolkit a compact per-pair dataset of exactly those rows
(user rows first, then the item's other rows, padded with weight-0 rows). The weighted loss,
its Hessian over the target subset, grad L_z and n = |R_ut| are then identical to passing the
whole training set, at (n_u + n_t) / N of the cost (about 1/70 on accent-ml100k).
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cfjax.data.interactions import Interactions, round_up
from cfjax.influence.influence import make_score_change_fn
from cfjax.influence.inverse import check_converged
from cfjax.models.base import Recommender
from cfjax.train.fit import TrainData, to_train_data
from cfjax.types import Params


class RelatedData(NamedTuple):
  """Per-pair compact training sets of FIA's related rows (user rows first).

  Attributes:
    data: `TrainData` with leaves [P, M], M = R + item width.
    weights: float32[P, M], 1 for real rows, 0 for padding.
    rows: int32[P, R], positions of the user's rows in `data` (-1 = padding).
  """

  data: TrainData
  weights: np.ndarray
  rows: np.ndarray


def related_data(train: Interactions, history_rows: np.ndarray, users: np.ndarray,
                 targets: np.ndarray, item_width: int | None = None) -> RelatedData:
  """Builds FIA's related rows R_ut = {rows of u} + {rows of t by other users} per pair.

  Args:
    train: the training interactions.
    history_rows: int32[P, R] each pair's user rows (from `pad_histories`).
    users: int[P] the pair's user.
    targets: int[P] the pair's target item t.
    item_width: static width of the item part; default the longest, rounded up to 32.

  Returns:
    The `RelatedData` (host numpy leaves).
  """
  others = [train.item_rows(int(t)) for t in targets]
  others = [r[train.user[r] != u] for r, u in zip(others, users)]
  longest = max([len(r) for r in others] + [0])
  item_width = round_up(longest) if item_width is None else int(item_width)
  if longest > item_width:
    raise ValueError(f"an item has {longest} training rows, more than the pad width "
                     f"{item_width}; raise the width")
  width = history_rows.shape[1]
  index = np.full((len(users), width + item_width), -1, dtype=np.int64)
  index[:, :width] = history_rows
  for p, r in enumerate(others):
    index[p, width:width + len(r)] = r
  real = index >= 0
  safe = np.maximum(index, 0)
  # Padding rows are the pair (u, t) itself with weight 0: finite and never counted.
  user = np.where(real, train.user[safe], np.asarray(users)[:, None]).astype(np.int32)
  item = np.where(real, train.item[safe], np.asarray(targets)[:, None]).astype(np.int32)
  rating = np.where(real, train.rating[safe], 0.0).astype(np.float32)
  columns = {name: np.where(real, np.asarray(values)[safe], np.asarray(values)[0])
             for name, values in train.columns.items()}  # padding: any valid value, weight 0
  rows = np.where(history_rows >= 0, np.arange(width)[None, :], -1).astype(np.int32)
  return RelatedData(TrainData(user, item, rating, columns), real.astype(np.float32), rows)


@functools.lru_cache(maxsize=None)
def make_related_influence_fn(model: Recommender, *, damping: float, solver: str = "explicit",
                              subset: str | None = "target", targets_per_batch: int = 16,
                              tol: float = 1e-6, max_iters: int = 100) -> Callable:
  """Jitted batched FIA influences over compact related-row data (FIA; ACCENT eq. 5).

  For each pair p, I(z, y_{u_p t_p}) = -score_change(z) with the toolkit's
  `make_score_change_fn(model, subset=subset, hessian_rows="related", damping=damping,
  solver=solver)` (the Hessian of the loss over R_ut, divided by n = |R_ut|), run on the
  pair's `related_data`. Cached per model and options (one trace per padded shape).

  Returns:
    fn(params, data [P, M], weights [P, M], users [P], targets [P], rows [P, R]) ->
    (influence float32[P, R] (0 at padding), CG report or None).
  """
  score_change = make_score_change_fn(model, solver=solver, subset=subset,
                                      hessian_rows="related", damping=damping, tol=tol,
                                      max_iters=max_iters)

  def one(params, pair):
    data, weights, user, target, rows = pair
    result = score_change(params, data, user, target, rows, weights)
    return -result.score_change, result.report

  @jax.jit
  def fn(params, data, weights, users, targets, rows):
    pairs = (data, weights, users, targets, rows)
    return jax.lax.map(functools.partial(one, params), pairs, batch_size=targets_per_batch)

  return fn


@functools.lru_cache(maxsize=None)
def make_full_influence_fn(model: Recommender, *, damping: float, solver: str = "cg",
                           subset: str | None = None, targets_per_batch: int = 16,
                           tol: float = 1e-6, max_iters: int = 100) -> Callable:
  """Jitted batched influences with the Hessian of the WHOLE training loss (Yao et al. eq. 10).

  Returns:
    fn(params, data [N] (shared), users [P], targets [P], rows [P, R]) ->
    (influence float32[P, R] = -score_change, CG report or None).
  """
  score_change = make_score_change_fn(model, solver=solver, subset=subset, hessian_rows="all",
                                      damping=damping, tol=tol, max_iters=max_iters)

  @jax.jit
  def fn(params, data, users, targets, rows):
    def one(pair):
      user, target, pair_rows = pair
      result = score_change(params, data, user, target, pair_rows)
      return -result.score_change, result.report
    return jax.lax.map(one, (users, targets, rows), batch_size=targets_per_batch)

  return fn


def related_influences(model: Recommender, params: Params, train: Interactions,
                       history_rows: np.ndarray, users: np.ndarray, targets: np.ndarray, *,
                       damping: float, solver: str = "explicit", subset: str | None = "target",
                       targets_per_batch: int = 16, item_width: int | None = None,
                       on_fail: str = "warn") -> np.ndarray:
  """Host wrapper: FIA influences I(z, y_ut) of each pair's user rows, float[P, R] (eq. 5)."""
  compact = related_data(train, history_rows, users, targets, item_width)
  fn = make_related_influence_fn(model, damping=float(damping), solver=solver, subset=subset,
                                 targets_per_batch=int(targets_per_batch))
  influence, report = fn(params, compact.data, compact.weights, jnp.asarray(users, jnp.int32),
                         jnp.asarray(targets, jnp.int32), compact.rows)
  if report is not None:
    check_converged(report, on_fail=on_fail)
  return np.asarray(influence)


def full_influences(model: Recommender, params: Params, train: Interactions,
                    history_rows: np.ndarray, users: np.ndarray, targets: np.ndarray, *,
                    damping: float, solver: str = "minres", subset: str | None = None,
                    targets_per_batch: int = 1, tol: float = 1e-6, max_iters: int = 100,
                    on_fail: str = "warn") -> tuple[np.ndarray, dict | None]:
  """Host wrapper: I(z, y_ut) of each pair's user rows with the Hessian of the WHOLE training
  loss (Yao et al. eq. 10), float[P, R], and the per-pair solver report as numpy (or None)."""
  fn = make_full_influence_fn(model, damping=float(damping), solver=solver, subset=subset,
                              targets_per_batch=int(targets_per_batch), tol=float(tol),
                              max_iters=int(max_iters))
  influence, report = fn(params, to_train_data(train), jnp.asarray(users, jnp.int32),
                         jnp.asarray(targets, jnp.int32), jnp.asarray(history_rows))
  if report is None:
    return np.asarray(influence), None
  check_converged(report, on_fail=on_fail)
  return np.asarray(influence), {name: np.asarray(value) for name, value in
                                 report._asdict().items()}
