"""The four definitions of the change Delta y on a target item (Yao et al., eqs. 3, 4, 11, 12).

All functions are pure jnp, jit/vmap-friendly, and compare one user's ORIGINAL ranking list
(scores under theta-hat) with one COUNTERFACTUAL list (scores under theta-hat(-D_u)). Ranks
are 1-based among the user's unseen items (`cfjax.rank`; deleted items stay excluded, as in
`cfjax.evaluate.verify`).

Normalisation for eq. 3 ("if the predicted score is normalized into [0, 1]"): each
counterfactual list is min-max scaled over the user's unseen items,
s' = (s - min) / (max - min), so Delta y_reg lies in [-1, 1] and is comparable across users
and models whose raw score ranges differ. Eq. 3 compares two scores of the SAME list, so the
scaling only rescales it; it never changes its sign.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from cfjax import rank
from cfjax.types import Array

DEFINITIONS = ("reg", "clf", "rank", "cross")


def minmax_normalise(scores: Array, seen: Array) -> Array:
  """Scores min-max scaled to [0, 1] over the unseen items (seen items are clipped too)."""
  low = jnp.min(jnp.where(seen, jnp.inf, scores), axis=-1, keepdims=True)
  high = jnp.max(jnp.where(seen, -jnp.inf, scores), axis=-1, keepdims=True)
  return jnp.clip((scores - low) / jnp.maximum(high - low, 1e-12), 0.0, 1.0)


def ranks_of(scores: Array, seen: Array, items: Array) -> Array:
  """int32[N]: 1-based ranks of items [N] in one list (scores [I], seen [I]; `cfjax.rank`)."""
  shape = items.shape + scores.shape
  return rank.rank_of_jnp(jnp.broadcast_to(scores, shape), jnp.broadcast_to(seen, shape), items)


def ranked_items(scores: Array, seen: Array) -> Array:
  """int32[I]: unseen items best first, then seen items (ties to the lower index)."""
  masked = jnp.where(seen, -jnp.inf, scores)
  _, items = jax.lax.top_k(masked, scores.shape[-1])
  return items.astype(jnp.int32)


def delta_reg(original: Array, counterfactual: Array, seen: Array, items: Array) -> Array:
  """Eq. 3: f'(u, j) - f'(u, i), j the item at i's ORIGINAL rank in the counterfactual list.

  Args:
    original: float[I] the user's scores under the original model.
    counterfactual: float[I] under the counterfactual model.
    seen: bool[I] the user's training items.
    items: int[N] target items (unseen).

  Returns:
    float32[N] in [-1, 1] (scores min-max normalised per list, see the module docstring);
    positive: i now ranks below its original position.
  """
  original_rank = ranks_of(original, seen, items)  # [N]
  benchmark = ranked_items(counterfactual, seen)[original_rank - 1]
  normalised = minmax_normalise(counterfactual, seen)
  return normalised[benchmark] - normalised[items]


def delta_rank(original: Array, counterfactual: Array, seen: Array, items: Array) -> Array:
  """Eq. 11: pi'(i) - pi(i), int32[N]; positive: i moved down the list."""
  return ranks_of(counterfactual, seen, items) - ranks_of(original, seen, items)


def delta_clf(original: Array, counterfactual: Array, seen: Array, items: Array) -> Array:
  """Eq. 4: sgn(pi'(i) - pi(i)) in {-1, 0, 1}, int32[N]."""
  return jnp.sign(delta_rank(original, counterfactual, seen, items))


def delta_cross(original: Array, counterfactual: Array, seen: Array, items: Array) -> Array:
  """Eq. 12: f(i)/f(top1) - f'(i)/f'(top1'), each list's raw scores over its own top-1.

  Raw scores as in the paper (MF and NCF predict ratings, so they are positive here).
  """
  top = lambda scores: scores[ranked_items(scores, seen)[0]]
  return original[items] / top(original) - counterfactual[items] / top(counterfactual)


def all_targets(original: Array, counterfactual: Array, seen: Array,
                items: Array) -> dict[str, Array]:
  """{"reg", "clf", "rank", "cross"} -> [N] for one user and one counterfactual model."""
  chex.assert_rank([original, counterfactual, seen, items], [1, 1, 1, 1])
  chex.assert_equal_shape([original, counterfactual, seen])
  return {"reg": delta_reg(original, counterfactual, seen, items).astype(jnp.float32),
          "clf": delta_clf(original, counterfactual, seen, items).astype(jnp.int32),
          "rank": delta_rank(original, counterfactual, seen, items).astype(jnp.int32),
          "cross": delta_cross(original, counterfactual, seen, items).astype(jnp.float32)}


@jax.jit
def batched_targets(original: Array, counterfactual: Array, seen: Array,
                    items: Array) -> dict[str, Array]:
  """`all_targets` over M models: original [M, I], counterfactual [M, I], seen [M, I],
  items [M, N] -> each target [M, N]."""
  return jax.vmap(all_targets)(original, counterfactual, seen, items)
