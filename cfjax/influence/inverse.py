"""Inverse Hessian-vector products: solve (H + damping * I) x = b.

Koh & Liang (2017, Sec. 3) need s = H^{-1} b for a Hessian H they can only multiply by.
Four solvers, all pure JAX and vmappable over the right-hand side b:

* `cg_solve`: conjugate gradient with a convergence report (exact in exact arithmetic for
  symmetric positive definite H + damping * I);
* `minres_solve`: MINRES, for symmetric INDEFINITE H + damping * I (non-convex models'
  Hessians), same report as CG;
* `lissa_solve`: the stochastic Neumann-series recursion of Agarwal et al. (2017), as Koh &
  Liang use it;
* `explicit_inverse_hvp`: forms the Hessian of a loss over a SMALL parameter vector (e.g. the
  64 FIA parameters of one user and one item) and solves it directly with `gauss_solve`,
  Gaussian elimination with partial pivoting written in `lax` (see its docstring for why not
  `jnp.linalg.solve`).

`hvp_fn` arguments take a pytree v and return H v (e.g. `functools.partial(make_hvp(L),
params)`); damping is added by the solver, not by `hvp_fn`.
"""

from __future__ import annotations

import warnings
from typing import Callable, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from cfjax.types import Array, Params, PRNGKey

MAX_EXPLICIT_SIZE = 4096


class CGReport(NamedTuple):
  """How a conjugate-gradient solve ended (arrays, so it can leave jit/vmap).

  Attributes:
    iterations: int32, CG iterations run (each costs one HVP).
    residual_norm: ||b - (H + damping I) x|| / ||b|| (0 when b = 0), from the CG recurrence.
    converged: bool, residual_norm <= tol and no direction of non-positive curvature met.
  """

  iterations: Array
  residual_norm: Array
  converged: Array


class CGNotConvergedWarning(RuntimeWarning):
  """Warned by `check_converged(..., on_fail="warn")`."""


class CGNotConvergedError(RuntimeError):
  """Raised by `check_converged(..., on_fail="raise")`."""


def _flat_matvec(hvp_fn: Callable[[Params], Params], unravel, damping: float):
  def matvec(x: Array) -> Array:
    return ravel_pytree(hvp_fn(unravel(x)))[0] + damping * x
  return matvec


def cg_solve(hvp_fn: Callable[[Params], Params], b: Params, *, damping: float = 0.0,
             tol: float = 1e-6, max_iters: int = 100) -> tuple[Params, CGReport]:
  """Solves (H + damping * I) x = b by conjugate gradient (Hestenes & Stiefel, 1952).

  The inverse-HVP of Koh & Liang (2017), x = (H + lambda I)^{-1} b, from x_0 = 0. Iterates
  alpha_k = r_k.r_k / p_k.A p_k, x += alpha_k p_k, r -= alpha_k A p_k, p = r + beta_k p
  (A = H + damping I) in a `lax.while_loop` until ||r|| <= tol * ||b||, `max_iters`
  iterations, or p.A p <= 0 (A not positive definite along p: the solve stops unconverged;
  add damping). Works on any pytree b (flattened with `ravel_pytree`); vmappable over b.

  Args:
    hvp_fn: v -> H v on pytrees shaped like b.
    b: the right-hand side.
    damping: lambda >= 0 added to the diagonal.
    tol: relative residual tolerance.
    max_iters: iteration cap (static).

  Returns:
    (x shaped like b, CGReport). Check the report with `check_converged` on the host.
  """
  b_flat, unravel = ravel_pytree(b)
  matvec = _flat_matvec(hvp_fn, unravel, damping)
  b_norm = jnp.linalg.norm(b_flat)
  threshold_sq = jnp.square(tol * b_norm)

  def cond(state):
    k, _, _, _, rs, breakdown = state
    return (k < max_iters) & (rs > threshold_sq) & ~breakdown

  def body(state):
    k, x, r, p, rs, _ = state
    ap = matvec(p)
    curvature = jnp.vdot(p, ap)
    breakdown = curvature <= 0
    alpha = jnp.where(breakdown, 0.0, rs / jnp.where(breakdown, 1.0, curvature))
    x = x + alpha * p
    r = r - alpha * ap
    rs_new = jnp.vdot(r, r)
    p = r + (rs_new / jnp.where(rs > 0, rs, 1.0)) * p
    return k + 1, x, r, p, rs_new, breakdown

  init = (jnp.zeros((), jnp.int32), jnp.zeros_like(b_flat), b_flat, b_flat,
          jnp.vdot(b_flat, b_flat), jnp.zeros((), bool))
  k, x, _, _, rs, breakdown = jax.lax.while_loop(cond, body, init)
  residual = jnp.sqrt(rs) / jnp.where(b_norm > 0, b_norm, 1.0)
  converged = (rs <= threshold_sq) & ~breakdown
  return unravel(x), CGReport(iterations=k, residual_norm=residual, converged=converged)


def minres_solve(hvp_fn: Callable[[Params], Params], b: Params, *, damping: float = 0.0,
                 tol: float = 1e-6, max_iters: int = 100) -> tuple[Params, CGReport]:
  """Solves (H + damping * I) x = b by MINRES (Paige & Saunders, 1975), for INDEFINITE H.

  Conjugate gradient needs H + damping I positive definite, which the Hessian of a
  non-convex model (NCF, all parameters) is not at a trained point: CG then stops at the
  first direction of negative curvature with a meaningless x. MINRES minimises ||b - A x||
  over the same Krylov space with the Lanczos three-term recurrence and Givens rotations
  (the unpreconditioned recurrences of Paige & Saunders, Sec. 6), so it solves any symmetric
  nonsingular A = H + damping I. Same interface and report as `cg_solve`; the report's
  residual_norm is the recurrence's ||b - A x|| / ||b||. Vmappable over b.

  Args:
    hvp_fn: v -> H v on pytrees shaped like b (H symmetric).
    b: the right-hand side.
    damping: lambda >= 0 added to the diagonal.
    tol: relative residual tolerance.
    max_iters: iteration cap (static).

  Returns:
    (x shaped like b, CGReport).
  """
  b_flat, unravel = ravel_pytree(b)
  matvec = _flat_matvec(hvp_fn, unravel, damping)
  beta1 = jnp.linalg.norm(b_flat)
  zeros = jnp.zeros_like(b_flat)
  scalar = lambda value: jnp.asarray(value, b_flat.dtype)
  # state: k, x, r1, r2, y, beta, old_beta, dbar, epsilon, phibar, cs, sn, w, w2
  init = (jnp.zeros((), jnp.int32), zeros, b_flat, b_flat, b_flat, beta1, scalar(0.0),
          scalar(0.0), scalar(0.0), beta1, scalar(-1.0), scalar(0.0), zeros, zeros)

  def cond(state):
    k, beta, phibar = state[0], state[5], state[9]
    return (k < max_iters) & (phibar > tol * beta1) & (beta > 0)

  def body(state):
    k, x, r1, r2, y, beta, old_beta, dbar, epsilon, phibar, cs, sn, w, w2 = state
    v = y / beta
    y = matvec(v)
    y = y - jnp.where(k > 0, beta / jnp.where(old_beta > 0, old_beta, 1.0), 0.0) * r1
    alpha = jnp.vdot(v, y)
    y = y - (alpha / beta) * r2
    r1, r2 = r2, y
    old_beta, beta = beta, jnp.linalg.norm(y)
    old_epsilon = epsilon
    delta = cs * dbar + sn * alpha
    gbar = sn * dbar - cs * alpha
    epsilon = sn * beta
    dbar = -cs * beta
    gamma = jnp.maximum(jnp.sqrt(gbar * gbar + beta * beta), jnp.finfo(b_flat.dtype).tiny)
    cs, sn = gbar / gamma, beta / gamma
    phi, phibar = cs * phibar, sn * phibar
    w1, w2 = w2, w
    w = (v - old_epsilon * w1 - delta * w2) / gamma
    return (k + 1, x + phi * w, r1, r2, y, beta, old_beta, dbar, epsilon, phibar, cs, sn, w,
            w2)

  state = jax.lax.while_loop(cond, body, init)
  k, x, phibar = state[0], state[1], state[9]
  residual = jnp.abs(phibar) / jnp.where(beta1 > 0, beta1, 1.0)
  converged = (jnp.abs(phibar) <= tol * beta1) | (state[5] <= 0)
  return unravel(x), CGReport(iterations=k, residual_norm=residual, converged=converged)


def check_converged(report: CGReport, *,
                    on_fail: Literal["warn", "raise", "ignore"] = "warn") -> bool:
  """Host-side check of a (possibly batched) `CGReport`; warns or raises if any solve failed.

  Args:
    report: from `cg_solve` (leaves may carry batch axes).
    on_fail: "warn" (warnings.warn a `CGNotConvergedWarning`), "raise" (a
      `CGNotConvergedError`) or "ignore".

  Returns:
    True if every solve converged.
  """
  if on_fail not in ("warn", "raise", "ignore"):
    raise ValueError(f"check_converged: on_fail={on_fail!r} is not one of 'warn', 'raise', "
                     "'ignore'; pass one of those")
  converged = np.asarray(report.converged)
  if converged.all():
    return True
  failed = ~converged
  iterations = np.asarray(report.iterations)[failed]
  residuals = np.asarray(report.residual_norm)[failed]
  message = (f"the iterative solve did not converge in {failed.sum()} of {converged.size} "
             f"solve(s): after {int(iterations.max())} iteration(s) the relative residual is up "
             f"to {float(residuals.max()):.3g}; raise max_iters or damping, or use "
             "solver='minres' if H + damping*I is indefinite (CG needs it positive definite)")
  if on_fail == "raise":
    raise CGNotConvergedError(message)
  if on_fail == "warn":
    warnings.warn(message, CGNotConvergedWarning, stacklevel=2)
  return False


def lissa_solve(hvp_fn: Callable[..., Params], b: Params, *, scale: float, damping: float,
                depth: int, num_samples: int = 1, key: PRNGKey | None = None) -> Params:
  """LiSSA (Agarwal et al., 2017) inverse-HVP as in Koh & Liang (2017, Sec. 3).

  Runs the recursion x_0 = b, x_{t+1} = b + (1 - damping) x_t - H x_t / scale for `depth`
  steps and returns x_depth / scale. Its fixed point is x = scale (H + scale * damping I)^{-1}
  b, so the result approximates

    (H + scale * damping * I)^{-1} b       (NOTE: the effective damping is scale * damping).

  It converges iff the eigenvalues of (1 - damping) I - H / scale lie in (-1, 1): choose
  scale > lambda_max(H) / 2 (safer: > lambda_max(H)) and damping + lambda_min(H) / scale > 0;
  the error decays like (1 - damping - lambda_min / scale)^depth.

  Stochastic version: with `key`, `hvp_fn(v, key_t)` is called with a fresh key each step
  (e.g. to draw a minibatch) and the results of `num_samples` independent recursions are
  averaged. Without `key`, `hvp_fn(v)` is deterministic (full batch) and num_samples must be 1.
  Vmappable over b.

  Args:
    hvp_fn: v -> H v, or (v, key) -> an unbiased estimate of H v when `key` is given.
    b: the right-hand side (pytree).
    scale: s > 0, divides H so the recursion contracts.
    damping: d in [0, 1).
    depth: recursion steps per sample (static).
    num_samples: independent recursions averaged (static).
    key: PRNG key for stochastic HVPs, or None.

  Returns:
    x shaped like b.
  """
  if scale <= 0 or not 0 <= damping < 1:
    raise ValueError(f"lissa_solve: scale={scale}, damping={damping}; pass scale > 0 and "
                     "0 <= damping < 1")
  if key is None and num_samples != 1:
    raise ValueError(f"lissa_solve: num_samples={num_samples} without a key repeats the same "
                     "deterministic recursion; pass num_samples=1 or a key")
  b_flat, unravel = ravel_pytree(b)

  def apply_h(x, step_key):
    v = unravel(x)
    return ravel_pytree(hvp_fn(v) if step_key is None else hvp_fn(v, step_key))[0]

  def one_sample(sample_key):
    def step(x, t):
      step_key = None if sample_key is None else jax.random.fold_in(sample_key, t)
      return b_flat + (1.0 - damping) * x - apply_h(x, step_key) / scale, None
    x, _ = jax.lax.scan(step, b_flat, jnp.arange(depth))
    return x / scale

  if key is None:
    return unravel(one_sample(None))
  samples = jax.lax.map(one_sample, jax.random.split(key, num_samples))
  return unravel(jnp.mean(samples, axis=0))


def explicit_hessian(loss_of_vector: Callable[[Array], Array], theta: Array, *,
                     max_size: int = MAX_EXPLICIT_SIZE) -> Array:
  """The explicit Hessian grad^2 L(theta): [P, P] of a loss over a small vector theta: [P]."""
  theta = jnp.asarray(theta)
  if theta.ndim != 1:
    raise ValueError(f"explicit_hessian: theta has shape {theta.shape}, not [P]; flatten it "
                     "with a ParamSubset.select or jax.flatten_util.ravel_pytree")
  if theta.shape[0] > max_size:
    raise ValueError(f"explicit_hessian: theta has {theta.shape[0]} entries, more than "
                     f"max_size={max_size}; restrict to a ParamSubset or use cg_solve")
  return jax.hessian(loss_of_vector)(theta)


def explicit_inverse_hvp(loss_of_vector: Callable[[Array], Array], theta: Array, b: Array, *,
                         damping: float = 0.0, max_size: int = MAX_EXPLICIT_SIZE) -> Array:
  """Solves (H + damping * I) x = b with the explicit Hessian H = grad^2 L(theta).

  The exact inverse-HVP of Koh & Liang (2017, eq. 2 with H formed explicitly), practical for
  FIA's small parameter subsets (Cheng et al., KDD 2019): forms H: [P, P] with
  `jax.hessian` and solves with `gauss_solve` (H + damping * I need not be positive definite:
  FIA's Hessians of NCF are often indefinite).

  Args:
    loss_of_vector: theta: [P] -> scalar loss.
    theta: [P] the linearisation point (P <= max_size).
    b: [P] the right-hand side.
    damping: lambda added to the diagonal.
    max_size: refuse larger P (the Hessian costs P^2 memory and P HVPs).

  Returns:
    x: [P].
  """
  hessian = explicit_hessian(loss_of_vector, theta, max_size=max_size)
  eye = jnp.eye(hessian.shape[0], dtype=hessian.dtype)
  return gauss_solve(hessian + damping * eye, b)


def gauss_solve(matrix: Array, rhs: Array) -> Array:
  """Solves matrix @ x = rhs by Gaussian elimination with partial pivoting, in `lax` only.

  The textbook LU solve (Golub & Van Loan, Alg. 3.4.1 then back substitution), the same
  factorisation LAPACK's gesv computes. Why not `jnp.linalg.solve`: on CPU it is a LAPACK
  custom call, and a jitted `lax.map` over vmapped LAPACK solves (FIA over many pairs) hung the
  process forever in 3 of 4 fresh `accent_table1 --preset=smoke` runs on jax 0.10.2 (every
  thread idle, the result never ready); this version never did. It is also accelerator-neutral
  and cheap for FIA's 64 x 64 systems (n steps of an n x (n + m) rank-one update).

  Args:
    matrix: [n, n], nonsingular (a zero pivot gives inf/nan, as LAPACK's result would).
    rhs: [n] or [n, m].

  Returns:
    x with rhs's shape.
  """
  n = matrix.shape[0]
  if matrix.shape != (n, n) or rhs.shape[0] != n or rhs.ndim > 2:
    raise ValueError(f"gauss_solve: matrix {matrix.shape} and rhs {rhs.shape} do not match; "
                     "pass a square [n, n] matrix and an [n] or [n, m] right-hand side")
  dtype = jnp.result_type(matrix.dtype, rhs.dtype, jnp.float32)
  augmented = jnp.concatenate([matrix.astype(dtype), rhs.reshape(n, -1).astype(dtype)], axis=1)
  index = jnp.arange(n)

  def eliminate(k, aug):
    pivot_row = jnp.argmax(jnp.where(index >= k, jnp.abs(aug[:, k]), -1.0))
    row_k, row_p = aug[k], aug[pivot_row]
    aug = aug.at[pivot_row].set(row_k).at[k].set(row_p)
    factors = jnp.where(index > k, aug[:, k] / aug[k, k], 0.0)
    return aug - factors[:, None] * aug[k][None, :]

  augmented = jax.lax.fori_loop(0, n, eliminate, augmented)
  upper, solved_rhs = augmented[:, :n], augmented[:, n:]

  def substitute(step, x):
    k = n - 1 - step  # rows below k are solved; x[:k] is still 0, so the dot sees only j > k
    return x.at[k].set((solved_rhs[k] - upper[k] @ x) / upper[k, k])

  x = jax.lax.fori_loop(0, n, substitute, jnp.zeros_like(solved_rhs))
  return x.reshape(rhs.shape)
