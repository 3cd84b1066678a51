"""KaffesCE: best-first search for counterfactual item sets (after Kaffes et al., UMAP 2021).

The KaffesCE paper was not available to us; this is the heuristic search that Wen et al.
(section 2 and 4.1) describe: candidate subsets grow one item at a time and are ranked by a
heuristic mixing the subset's normalised length with its "impotence". What we implement, exactly:

* state: a subset C of the user's interacted items N_u (n = |N_u|); the root is the empty set;
* counterfactual row x_C = x_u with C removed; the recommended item i is "out" when its rank
  among the items not in x_C (removed items are candidates again, as in PN) exceeds K;
* margin m(C) = g_i(x_C) - t_K(x_C), with t_K(x_C) the K-th highest score among the items not
  in x_C other than i (i is in the top-K iff m >= 0, ties aside);
* impotence imp(C) = clip(m(C) / max(m({}), 1e-6), 0, 1): 1 at the root, 0 once i is out;
* heuristic h(C) = w * |C| / n + (1 - w) * imp(C), w = `length_weight` = 0.5 (lower is better);
* search: pop the subset with the lowest h (ties: first pushed), "expand" it by generating every
  C + {j}, j in N_u \\ C, not seen before, scored in one batched call; the goal test runs on
  generation: if some children put i out of the top-K, return the one with the lowest h
  (ties: lowest j); otherwise push them all. Stop with "not found" (empty set) after
  `max_expansions` expansions (30) or when the frontier is empty.

Guarantees (tested): a returned set is valid (i leaves the top-K on re-scoring); its size is at
most the number of expansions done, so <= `max_expansions`; if any single item is valid the
first expansion returns a set of size 1.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import itertools
import time
from typing import Callable, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from cfjax.explain.base import ExplainContext, Targets, register
from cfjax.explain.lcer import dense_rows
from cfjax.rank import rank_of_jnp
from cfjax.util import check_int, check_number
from cfjax.records import Explanation


@functools.partial(jax.jit, static_argnums=(0, 4))
def _rank_and_margin(score_fn, params, rows, item, k):
  scores = score_fn(params, rows)
  seen = rows > 0
  rank = rank_of_jnp(scores, seen, item)
  others = jnp.where(seen | (jnp.arange(rows.shape[-1]) == item), -jnp.inf, scores)
  threshold = jax.lax.top_k(others, k)[0][..., k - 1]
  return rank, scores[:, item] - threshold


def kaffes_explain(score_fn: Callable, params, x_row, item: int, k: int, *,
                   length_weight: float = 0.5, max_expansions: int = 30,
                   multiple: int = 32) -> tuple[tuple[int, ...], dict]:
  """KaffesCE for one (user, item) pair (see the module docstring for the exact search).

  Args:
    score_fn: (params, x[B, I]) -> scores[B, I]; must be hashable (static under jit).
    params: its params.
    x_row: [I] binary factual row of the user.
    item: the recommended item i (in the top-K of x_row).
    k: list length K.
    length_weight: w of the heuristic (0.5).
    max_expansions: the search budget in expansions (30).
    multiple: children batches are padded to a multiple of this.

  Returns:
    (C as a tuple of item ids, empty when not found; {"expansions", "evaluations"}).

  Raises:
    ValueError: if w is outside [0, 1] or the budget is < 1.
  """
  if not 0.0 <= length_weight <= 1.0 or max_expansions < 1:
    raise ValueError(f"length_weight={length_weight} must lie in [0, 1] and max_expansions="
                     f"{max_expansions} be >= 1")
  x_row = np.asarray(x_row, np.float32)
  hist = [int(j) for j in np.flatnonzero(x_row > 0)]
  n = len(hist)

  def evaluate(subsets):
    rows = np.repeat(x_row[None], len(subsets), axis=0)
    for r, subset in enumerate(subsets):
      rows[r, list(subset)] = 0.0
    size = -(-len(rows) // multiple) * multiple
    rows = np.concatenate([rows, np.repeat(rows[:1], size - len(rows), axis=0)])
    rank, margin = _rank_and_margin(score_fn, params, jnp.asarray(rows), item, int(k))
    return np.asarray(rank)[:len(subsets)], np.asarray(margin)[:len(subsets)]

  _, (m0,) = evaluate([()])
  m0 = max(float(m0), 1e-6)
  heuristic = lambda subset, m: (length_weight * len(subset) / max(n, 1)
                                 + (1 - length_weight) * float(np.clip(m / m0, 0.0, 1.0)))
  counter = itertools.count()
  frontier = [(heuristic((), m0), next(counter), ())]
  visited = {()}
  expansions = evaluations = 0
  while frontier and expansions < max_expansions:
    _, _, subset = heapq.heappop(frontier)
    expansions += 1
    children = []
    for j in hist:
      if j not in subset:
        child = tuple(sorted(subset + (j,)))
        if child not in visited:
          visited.add(child)
          children.append(child)
    if not children:
      continue
    ranks, margins = evaluate(children)
    evaluations += len(children)
    scores = [heuristic(c, m) for c, m in zip(children, margins)]
    valid = [c for c, r in enumerate(ranks) if r > k]
    if valid:
      best = min(valid, key=lambda c: (scores[c], c))
      return children[best], {"expansions": expansions, "evaluations": evaluations}
    for c, child in enumerate(children):
      heapq.heappush(frontier, (scores[c], next(counter), child))
  return (), {"expansions": expansions, "evaluations": evaluations}


@register("kaffes")
@dataclasses.dataclass(frozen=True)
class KaffesCE:
  """KaffesCE's best-first search (module docstring) for each target, on `score_rows`.

  Attributes:
    k: the list length K the target must leave.
    max_expansions: the search budget (30).
    length_weight: w of the heuristic (0.5).
    name: the method name.
  """

  k: int = 5
  max_expansions: int = 30
  length_weight: float = 0.5
  name: str = "kaffes"
  requires = ("score_rows",)
  cost: ClassVar[str] = "fast"

  def __post_init__(self):
    check_int(self.k, "kaffes: k", minimum=1)
    check_int(self.max_expansions, "kaffes: max_expansions", minimum=1)
    check_number(self.length_weight, "kaffes: length_weight", 0, 1)

  def explain(self, ctx: ExplainContext, targets: Targets) -> list[Explanation]:
    """[B] records (empty deleted_items: not found); extra holds the search's counts."""
    ctx.check_targets(targets)
    score_rows = ctx.model.require("score_rows", self.name)
    rows = dense_rows(ctx.train, targets.users)
    records = []
    for b, (user, item) in enumerate(targets):
      start = time.perf_counter()
      found, info = kaffes_explain(score_rows, ctx.params, rows[b], item, int(self.k),
                                   length_weight=self.length_weight,
                                   max_expansions=self.max_expansions)
      records.append(Explanation(user, item, found, method=self.name,
                                 extra={"k": int(self.k), **info,
                                        "seconds": time.perf_counter() - start}))
    return records
