"""The attention baselines of ACCENT (Tran et al., SIGIR 2021, sec. 3.3.1) for attention models.

Both rank the user's training items by their attention weight in f(u, rec) (for RCF: the type
attention times the value attention, summed over the item's entries; the model's
`attention_weights` hook) and remove items from the user's history with the model's
parameters FIXED (`attach_weights`: the history without those rows), reading the new scores of
the top-k items:

  * `pure_attention`: add items by decreasing weight until some other top-k item's score
    exceeds rec's;
  * `attention`: the same order, but keep an item only if removing it (on top of the kept
    ones) shrinks the gap between rec and the then second-ranked top-k item.

The replacement is the best other top-k item after the removal (ties to the better original
rank). A search that never displaces rec gives a failed record (deleted_items=(),
extra["failed"]=True), as FIA's do.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from cfjax.data.interactions import padded_histories
from cfjax.explain.base import ExplainContext, Targets, register
from cfjax.models.base import Recommender
from cfjax.records import Explanation
from cfjax.util import check_int


@functools.lru_cache(maxsize=None)
def _functions(model: Recommender):
  """Jitted (attention weights of rows, top-k scores with some rows removed), per model."""
  weights_fn = jax.jit(model.require("attention_weights", "the attention baselines"))
  bind = model.require("attach_weights", "the attention baselines")

  @jax.jit
  def scores_without(params, user, items, kept):
    fixed = bind(params, kept)
    return model.predict(fixed, jnp.full(items.shape, user, jnp.int32), items)

  return weights_fn, scores_without


def attention_order(weights: np.ndarray, valid: np.ndarray) -> np.ndarray:
  """Positions of the valid rows by decreasing attention weight, ties to the lower position."""
  positions = np.flatnonzero(valid)
  return positions[np.argsort(-np.asarray(weights)[positions], kind="stable")]


def select(order: np.ndarray, scores_without, initial: np.ndarray, keep_only_improving: bool
           ) -> tuple[list[int], int, float, np.ndarray, bool]:
  """ACCENT's attention search over `order` (positions into the history).

  Args:
    order: the positions to try, in order.
    scores_without: positions (list) -> float[K] top-k scores with those rows removed.
    initial: float[K] the original top-k scores, rec first.
    keep_only_improving: False: pure attention (every tried row stays removed); True:
      attention (a row stays only if it shrinks the gap to the second-ranked item).

  Returns:
    (removed positions, replacement index into the top-k or -1, gap, scores, success).
  """
  current = np.asarray(initial, np.float64)
  best = int(np.argmax(current[1:])) + 1
  gap = current[0] - current[best]
  removed: list[int] = []
  for position in order:
    trial = np.asarray(scores_without(removed + [int(position)]), np.float64)
    trial_best = int(np.argmax(trial[1:])) + 1
    trial_gap = trial[0] - trial[trial_best]
    if keep_only_improving and not trial_gap < gap:
      continue
    removed.append(int(position))
    current, best, gap = trial, trial_best, trial_gap
    if gap < 0:
      return removed, best, float(gap), current, True
  return removed, -1, float(gap), current, False


@dataclasses.dataclass(frozen=True)
class AttentionSelection:
  """Explains each user's top-1 by removing items in attention order, parameters fixed.

  Attributes:
    name: "pure_attention" or "attention".
    keep_only_improving: attention's rule (True) or pure attention's (False).
    replacement_k: the size of the top-k list the replacement comes from (ACCENT's k, its
      I_rep; >= 2): the candidate replacements are top-2..top-replacement_k. Not the
      validity K (which is always `k`).
  """

  name: str
  keep_only_improving: bool
  replacement_k: int = 5
  requires: ClassVar[tuple[str, ...]] = ("attention_weights", "attach_weights")
  cost: ClassVar[str] = "fast"

  def __post_init__(self):
    if check_int(self.replacement_k, f"{self.name}: replacement_k") < 2:
      raise ValueError(f"{self.name}: replacement_k={self.replacement_k} leaves no candidate "
                       "replacement; pass replacement_k >= 2")

  def explain(self, ctx: ExplainContext, targets: Targets) -> list[Explanation]:
    """[B] records; extra holds k (= replacement_k), the top-k and scores, the attention
    order and weights, the predicted scores after removal and seconds_per_pair."""
    ctx.check_targets(targets)
    weights_fn, scores_fn = _functions(ctx.model)
    top_items, top_scores = ctx.top_k(targets.users, int(self.replacement_k))
    wrong = np.flatnonzero(top_items[:, 0] != targets.items)
    if wrong.size:
      b = int(wrong[0])
      raise ValueError(f"{self.name} explains a user's top-1 item, but target "
                       f"({targets.users[b]}, {targets.items[b]}) is not its user's top-1 "
                       f"({top_items[b, 0]}); pass top-1 targets")
    rows, items = padded_histories(ctx.train, targets.users)
    num_rows = len(ctx.train)
    records = []
    for b, (user, rec) in enumerate(targets):
      tick = time.perf_counter()
      valid = rows[b] >= 0
      weights = np.asarray(weights_fn(ctx.params, jnp.int32(user), jnp.int32(rec),
                                      jnp.asarray(rows[b], jnp.int32)))
      order = attention_order(weights, valid)
      top = jnp.asarray(top_items[b], jnp.int32)

      def scores_without(positions, b=b, top=top, user=user):
        kept = np.ones(num_rows, np.float32)
        kept[rows[b][positions]] = 0.0
        return scores_fn(ctx.params, jnp.int32(user), top, jnp.asarray(kept))

      removed, best, gap, scores, success = select(order, scores_without, top_scores[b],
                                                   self.keep_only_improving)
      deleted = tuple(int(items[b, p]) for p in removed) if success else ()
      extra = {"k": int(self.replacement_k), "failed": not success,
               "top_k": [int(i) for i in top_items[b]],
               "top_k_scores": [float(s) for s in top_scores[b]],
               "predicted_gap": gap,
               "initial_gap": float(top_scores[b][0] - top_scores[b][1]),
               "predicted_scores": [float(s) for s in scores],
               "attention_order": [int(items[b, p]) for p in order],
               "attention_weights": [float(weights[p]) for p in order],
               "attempted_items": [int(items[b, p]) for p in removed],
               "seconds_per_pair": time.perf_counter() - tick}
      replacement = int(top_items[b, best]) if success else None
      records.append(Explanation(int(user), int(rec), deleted, replacement, self.name, extra))
    return records


register("pure_attention", functools.partial(AttentionSelection, name="pure_attention",
                                             keep_only_improving=False))
register("attention", functools.partial(AttentionSelection, name="attention",
                                        keep_only_improving=True))
