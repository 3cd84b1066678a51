"""Exact Hessian-vector products (the H v of Koh & Liang, 2017, Sec. 3).

H v is computed by forward-over-reverse differentiation: the directional derivative of the
gradient, d/dt grad L(theta + t v) at t = 0, i.e. `jax.jvp` of `jax.grad`. It is exact up to
floating point (no finite differences) and costs about two gradient evaluations.
"""

from __future__ import annotations

from typing import Callable

import jax

from cfjax.types import Array, Params

LossFn = Callable[[Params], Array]
HvpFn = Callable[[Params, Params], Params]


def make_hvp(loss_fn: LossFn, *, damping: float = 0.0) -> HvpFn:
  """Builds the (damped) Hessian-vector product of a scalar loss.

  Implements hvp(theta, v) = (H(theta) + damping * I) v with H = grad^2 L(theta), the
  damped Hessian Koh & Liang (2017) use to make a non-convex Hessian invertible. H v is
  `jax.jvp(jax.grad(loss_fn), (theta,), (v,))` (forward-over-reverse).

  The returned function is pure: it can be jitted, and vmapped over `vector` (the
  linearisation point `params` stays shared).

  Args:
    loss_fn: params -> scalar loss L. Any data it needs must be closed over.
    damping: lambda >= 0 added to the diagonal of H.

  Returns:
    hvp(params, vector) -> a pytree shaped like `params`.
  """
  if damping < 0:
    raise ValueError(f"make_hvp: damping={damping} is negative; pass damping >= 0")
  grad_fn = jax.grad(loss_fn)

  def hvp(params: Params, vector: Params) -> Params:
    product = jax.jvp(grad_fn, (params,), (vector,))[1]
    if damping:
      product = jax.tree.map(lambda hv, v: hv + damping * v, product, vector)
    return product

  return hvp
