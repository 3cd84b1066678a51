"""Influence of training rows on a predicted score (Koh & Liang 2017; Yao et al. eq. 10).

Notation. The model is trained on L(theta) = sum_m w_m l_m(theta) / n + penalty(theta) with
n = sum_m w_m (`weighted_loss`, Yao et al. eq. 1; w = 1 for the original model). Because of
the normalisation by n this is exactly the empirical risk of Koh & Liang,
R(theta) = (1/n) sum_m w_m L_m(theta), with the per-row loss L_m = l_m + penalty.

Derivation (sign convention). Upweighting row z by eps, theta_eps = argmin R + eps L_z, moves
the optimum by d theta / d eps = -H^{-1} grad L_z (Koh & Liang eq. 1) with H = grad^2 R, so
the target score f(u, i; theta) moves by

  I_up,f(z) = d f / d eps = -grad f^T H^{-1} grad L_z.                        (`influence`)

Removing z (weight w_z -> 0) is upweighting by eps = -w_z / n, hence the first-order change
of the prediction when z is REMOVED and the model retrained is

  Delta f(z) = f^{-z}(u, i) - f(u, i) ~= +(w_z / n) grad f^T H^{-1} grad L_z,   (`score_change`)

which is Yao et al. eq. 10 (w_z = 1) and ACCENT's eq. 4 pushed through f. A positive
`score_change` means the score goes UP without z. ACCENT's influence (Tran et al. eq. 5),
I(z, y_ui) = y_ui - y_ui^{-z}, is `-score_change`. (Exact check: removing z from the
normalised loss gives d grad R / d w_z = (grad l_z + grad penalty) / n at the optimum, which
is why grad L_z includes the penalty; `row_penalty=False` drops it, as Yao et al. write it.)

Computation. One inverse-HVP per target, s = (H + damping I)^{-1} grad f (H is symmetric,
so grad f^T H^{-1} g = s^T g), then grad L_z^T s for all rows at once as the forward-mode
derivative (`jax.jvp`) of the vector of row losses along s, which equals the dot products
of s with the per-row gradients without materialising them.

Options.
* `subset`: restrict theta to a `ParamSubset` (FIA, Cheng et al. KDD 2019: the embedding
  rows of u and i; "target" picks them via `target_subset`). H, grad f and grad L_z are then
  the subset blocks, all other parameters held fixed.
* `hessian_rows="related"`: FIA's Hessian, as in its reference implementation: H is the
  Hessian of the loss averaged over the related rows only, R_ui = {rows with user u or item
  i}: L_ui = sum_{m in R_ui} w_m l_m / |R_ui| + penalty, and n := |R_ui| (weighted count) in
  Delta f. Use it with a subset; with "all" (default) H is the Hessian of the full training
  loss and n the number of training rows.
"""

from __future__ import annotations

import functools
from typing import Callable, Literal, NamedTuple, Union

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from cfjax.influence.hvp import make_hvp
from cfjax.influence.inverse import (CGReport, MAX_EXPLICIT_SIZE, cg_solve, check_converged,
                                     explicit_inverse_hvp, lissa_solve, minres_solve)
from cfjax.influence.subset import ParamSubset, target_subset
from cfjax.models.base import Recommender, row_loss_options, weighted_loss
from cfjax.train.fit import TrainData
from cfjax.types import Array, Params

Solver = Literal["cg", "minres", "explicit", "lissa"]
HessianRows = Literal["all", "related"]
SubsetSpec = Union[None, str, ParamSubset, Callable[[Array, Array], ParamSubset]]
ScoreChangeFn = Callable[..., "InfluenceResult"]


class InfluenceResult(NamedTuple):
  """Influence of each requested row on f(u, i).

  Attributes:
    score_change: [R] first-order f^{-z}(u, i) - f(u, i) when row z alone is removed,
      +(w_z / n) grad f^T H^{-1} grad L_z (Yao et al. eq. 10); 0 for padding rows (-1).
    influence: [R] I_up,f(z) = -grad f^T H^{-1} grad L_z (Koh & Liang), the derivative of f
      w.r.t. the weight eps of row z in R + eps L_z; 0 for padding rows.
    num_rows: n, the weighted number of rows the Hessian's loss averages over.
    report: the `CGReport` of the solve for solver="cg" or "minres", else None.
  """

  score_change: Array
  influence: Array
  num_rows: Array
  report: CGReport | None


def _resolve_subset(model: Recommender, subset: SubsetSpec, user: Array,
                    item: Array) -> ParamSubset | None:
  if subset is None or isinstance(subset, ParamSubset):
    return subset
  if isinstance(subset, str):
    if subset != "target":
      raise ValueError(f"subset={subset!r} is not understood; pass None, 'target', a "
                       "ParamSubset or a function (user, item) -> ParamSubset")
    return target_subset(model, user, item)
  return subset(user, item)


def make_score_change_fn(model: Recommender, *, solver: Solver = "cg",
                         subset: SubsetSpec = None, hessian_rows: HessianRows = "all",
                         damping: float = 0.0, row_penalty: bool = True, tol: float = 1e-6,
                         max_iters: int = 100, lissa_scale: float = 10.0,
                         lissa_depth: int = 1000,
                         max_explicit_size: int = MAX_EXPLICIT_SIZE) -> ScoreChangeFn:
  """Builds the influence of training rows on a predicted score (Yao et al. eq. 10).

  Computes score_change(z) = +(w_z / n) grad f(u, i)^T (H + damping I)^{-1} grad L_z and
  I_up,f(z) = -grad f^T (H + damping I)^{-1} grad L_z (Koh & Liang 2017) for the rows z
  given; see the module docstring for the derivation and the FIA options (Cheng et al.,
  KDD 2019). The returned function is pure: jit it, and vmap it over targets and rows.

  Args:
    model: the recommender.
    solver: "cg" (`cg_solve`), "minres" (`minres_solve`, for indefinite H), "explicit" (`explicit_inverse_hvp`; needs P <=
      max_explicit_size, i.e. a subset or a tiny model) or "lissa" (`lissa_solve`).
    subset: None (all parameters), "target" (`target_subset(model, u, i)`), a fixed
      `ParamSubset`, or a function (user, item) -> ParamSubset.
    hessian_rows: "all" (Hessian of the whole training loss, n = sum of weights) or
      "related" (FIA: rows of user u or item i only, n = their weighted count).
    damping: lambda >= 0; every solver inverts H + lambda I (LiSSA is run with its own
      damping set to lambda / lissa_scale so that it targets the same matrix).
    row_penalty: include grad penalty in grad L_z (exact for `weighted_loss`; see module).
    tol: CG relative residual tolerance.
    max_iters: CG iteration cap.
    lissa_scale: LiSSA scale, must exceed the largest eigenvalue of H / 2.
    lissa_depth: LiSSA recursion depth.
    max_explicit_size: largest P the explicit solver accepts.

  Returns:
    fn(params, data, target_user, target_item, rows, weights=None) -> InfluenceResult, where
    data is a `TrainData` [N], target_user/target_item int32 scalars, rows int32[R] indices
    into data (-1 = padding), weights float32[N] the current row weights (default ones).
  """
  if solver not in ("cg", "minres", "explicit", "lissa"):
    raise ValueError(f"solver={solver!r} is not one of 'cg', 'minres', 'explicit', 'lissa'; "
                     "pass one of those")
  if hessian_rows not in ("all", "related"):
    raise ValueError(f"hessian_rows={hessian_rows!r} is not 'all' or 'related'; pass one of "
                     "those")
  if damping < 0:
    raise ValueError(f"damping={damping} is negative; pass damping >= 0")
  if solver == "lissa" and damping / lissa_scale >= 1:
    raise ValueError(f"damping={damping} >= lissa_scale={lissa_scale} makes LiSSA diverge; "
                     "raise lissa_scale")

  def score_change_fn(params: Params, data: TrainData, target_user: Array,
                      target_item: Array, rows: Array,
                      weights: Array | None = None) -> InfluenceResult:
    user = jnp.asarray(target_user, jnp.int32)
    item = jnp.asarray(target_item, jnp.int32)
    rows = jnp.asarray(rows, jnp.int32)
    weights = (jnp.ones(data.user.shape, jnp.float32) if weights is None
               else jnp.asarray(weights, jnp.float32))
    if hessian_rows == "related":
      hessian_weights = weights * ((data.user == user) | (data.item == item))
    else:
      hessian_weights = weights
    num_rows = jnp.maximum(jnp.sum(hessian_weights), 1.0)  # as in weighted_loss
    # a negative-sampling model's loss at one fixed draw: influence is a local, deterministic
    # quantity (the same draw in the Hessian and in every row's gradient)
    analysis_key = jax.random.PRNGKey(0) if model.samples_negatives else None

    chosen = _resolve_subset(model, subset, user, item)
    if chosen is None:
      theta, to_params = params, (lambda theta: theta)
    else:
      theta, to_params = chosen.select(params), (lambda theta: chosen.embed(theta, params))

    def train_loss(theta):
      return weighted_loss(model, to_params(theta), data.user, data.item, data.rating,
                           hessian_weights, extra=data.extra, key=analysis_key)

    def score(theta):
      return model.predict(to_params(theta), user[None], item[None])[0]

    valid = rows >= 0
    safe = jnp.where(valid, rows, 0)

    def row_losses(theta):  # [R]: L_z = l_z (+ penalty)
      full = to_params(theta)
      picked = data.take(safe)
      losses = model.row_losses(full, picked.user, picked.item, picked.rating,
                                **row_loss_options(model, picked.extra, analysis_key))
      return losses + model.penalty(full) if row_penalty else losses

    grad_f = jax.grad(score)(theta)
    report = None
    if solver in ("cg", "minres"):
      hvp = functools.partial(make_hvp(train_loss), theta)
      krylov = cg_solve if solver == "cg" else minres_solve
      s, report = krylov(hvp, grad_f, damping=damping, tol=tol, max_iters=max_iters)
    elif solver == "lissa":
      hvp = functools.partial(make_hvp(train_loss), theta)
      s = lissa_solve(hvp, grad_f, scale=lissa_scale, damping=damping / lissa_scale,
                      depth=lissa_depth)
    else:
      theta_flat, unravel = ravel_pytree(theta)
      s = unravel(explicit_inverse_hvp(lambda t: train_loss(unravel(t)), theta_flat,
                                       ravel_pytree(grad_f)[0], damping=damping,
                                       max_size=max_explicit_size))
    # grad L_z . s for every row z at once (forward mode along s).
    dots = jax.jvp(row_losses, (theta,), (s,))[1]
    dots = jnp.where(valid, dots, 0.0)
    row_weights = jnp.where(valid, weights[safe], 0.0)
    return InfluenceResult(score_change=row_weights * dots / num_rows, influence=-dots,
                           num_rows=num_rows, report=report)

  return score_change_fn


@functools.partial(jax.jit, static_argnums=(0, 1))
def _run(model, options, fixed_subset, params, data, user, item, rows, weights):
  options = dict(options)
  if fixed_subset is not None:
    options["subset"] = fixed_subset
  return make_score_change_fn(model, **options)(params, data, user, item, rows, weights)


def _run_checked(model, params, data, target_user, target_item, rows, weights, on_fail,
                 options) -> InfluenceResult:
  fixed = options["subset"] if isinstance(options["subset"], ParamSubset) else None
  if fixed is not None:
    options = {**options, "subset": None}
  result = _run(model, tuple(sorted(options.items())), fixed, params, data, target_user,
                target_item, rows, weights)
  if result.report is not None:
    check_converged(result.report, on_fail=on_fail)
  return result


def score_change_on_removal(model: Recommender, params: Params, data: TrainData,
                            target_user: int | Array, target_item: int | Array, rows: Array,
                            *, solver: Solver = "cg", subset: SubsetSpec = None,
                            hessian_rows: HessianRows = "all", damping: float = 0.0,
                            row_penalty: bool = True, weights: Array | None = None,
                            tol: float = 1e-6, max_iters: int = 100,
                            lissa_scale: float = 10.0, lissa_depth: int = 1000,
                            on_fail: Literal["warn", "raise", "ignore"] = "warn") -> Array:
  """Predicted f^{-z}(u, i) - f(u, i) when each row z is removed alone (Yao et al. eq. 10).

  First-order: +(w_z / n) grad f^T (H + damping I)^{-1} grad L_z, see
  `make_score_change_fn` for the options. Host-side convenience: jitted (compiled once per
  model and options), then the CG report is checked with `check_converged(on_fail=...)`.
  Inside jit/vmap use `make_score_change_fn` instead.

  Args:
    model, params, data: the trained recommender and its training rows.
    target_user, target_item: the prediction f(u, i).
    rows: int32[R] row indices into data (-1 = padding, gives 0).
    solver, subset, hessian_rows, damping, row_penalty, tol, max_iters, lissa_scale,
      lissa_depth: as in `make_score_change_fn`.
    weights: float32[N] current row weights (default ones).
    on_fail: what a non-converged CG solve does: "warn", "raise" or "ignore".

  Returns:
    float32[R].
  """
  options = dict(solver=solver, subset=subset, hessian_rows=hessian_rows, damping=damping,
                 row_penalty=row_penalty, tol=tol, max_iters=max_iters,
                 lissa_scale=lissa_scale, lissa_depth=lissa_depth)
  return _run_checked(model, params, data, target_user, target_item, rows, weights, on_fail,
                      options).score_change


def influence_on_prediction(model: Recommender, params: Params, data: TrainData,
                            target_user: int | Array, target_item: int | Array, rows: Array,
                            *, solver: Solver = "cg", subset: SubsetSpec = None,
                            hessian_rows: HessianRows = "all", damping: float = 0.0,
                            row_penalty: bool = True, weights: Array | None = None,
                            tol: float = 1e-6, max_iters: int = 100,
                            lissa_scale: float = 10.0, lissa_depth: int = 1000,
                            on_fail: Literal["warn", "raise", "ignore"] = "warn") -> Array:
  """Koh & Liang's I_up of each row on the predicted score f(u, i) (cf. Yao et al. eq. 10).

  I_up,f(z) = d f(u, i; theta_eps) / d eps at eps = 0 = -grad f^T (H + damping I)^{-1}
  grad L_z, for theta_eps = argmin R + eps L_z. Removing z is eps = -w_z / n, so
  `score_change_on_removal` = -(w_z / n) * this. Same arguments as `score_change_on_removal`.

  Returns:
    float32[R].
  """
  options = dict(solver=solver, subset=subset, hessian_rows=hessian_rows, damping=damping,
                 row_penalty=row_penalty, tol=tol, max_iters=max_iters,
                 lissa_scale=lissa_scale, lissa_depth=lissa_depth)
  return _run_checked(model, params, data, target_user, target_item, rows, weights, on_fail,
                      options).influence
