"""`exhaustive` (cfjax's): the exact minimal explanations of users with small histories.

For a target (u, i) every subset of u's training items of size 1, 2, ..., `max_size` is
retrained (Yao et al., eq. 1: the model without those rows), in one batched engine call per
size (`cfjax.train.counterfactual.retrain_user_scores`, scratch protocol under the spec's
seed + `seed_offset`, paired: every model shares that seed's init and batch order, with the
target's control, nothing deleted, in the same call). The minimal explanations are all the
subsets of the smallest size that move i out of the top-`k` while the control keeps it in
(eq. 2); the search stops at that size. It is the gold standard of set size the benchmark
compares methods to (`cfjax.evaluate.minimality`). The count, sum_s C(n_u, s), is checked
before any work: above `max_subsets` per target it is a one-line error.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from typing import ClassVar

import numpy as np

from cfjax import rank
from cfjax.explain.base import ExplainContext, Targets, register
from cfjax.records import Explanation
from cfjax.train.counterfactual import retrain_user_scores
from cfjax.util import check_int


def subset_count(history: int, max_size: int) -> int:
  """sum_{s=1..max_size} C(history, s): the subsets an exhaustive search may retrain."""
  return sum(math.comb(int(history), s) for s in range(1, int(max_size) + 1))


@register("exhaustive")
@dataclasses.dataclass(frozen=True)
class Exhaustive:
  """Every subset of the history up to `max_size`, retrained; the smallest that work.

  Attributes:
    max_size: the largest subset size searched.
    max_subsets: the most subsets per target (sum_s C(n_u, s)); more is an error.
    k: the list length the target must leave.
    seed_offset: retrain under the spec's seed + this (0: the paired protocol, the one the
      benchmark ranks by, so the sets are minimal under that protocol).
    chunk_size: models per compiled engine call (None: 1 for full batch, else 64).
    name: the method name.
  """

  max_size: int = 3
  max_subsets: int = 500
  k: int = 1
  seed_offset: int = 0
  chunk_size: int | None = None
  name: str = "exhaustive"
  requires = ("row_losses",)
  cost: ClassVar[str] = "slow"

  def __post_init__(self):
    for option in ("max_size", "max_subsets", "k"):
      check_int(getattr(self, option), f"exhaustive: {option}", minimum=1)
    check_int(self.seed_offset, "exhaustive: seed_offset")

  def check_budget(self, ctx: ExplainContext, targets: Targets) -> None:
    """A one-line error if a target's user has more subsets than `max_subsets`."""
    for user in targets.users:
      history = int(ctx.train.user_counts[user])
      count = subset_count(history, self.max_size)
      if count > self.max_subsets:
        raise ValueError(f"exhaustive: user {user} has {history} training rows, so "
                         f"{count} subsets of size 1..{self.max_size}, more than "
                         f"max_subsets={self.max_subsets}; explain users with shorter "
                         "histories, lower max_size or raise max_subsets")

  def explain(self, ctx: ExplainContext, targets: Targets) -> list[Explanation]:
    """[B] records: one minimal set (the one that pushes the target lowest), or () when no
    set up to max_size works; extra: {"minimal_size", "minimal_sets" (item tuples),
    "retrains", "searched_up_to", "control_moved", "seed", "seconds_per_target"}."""
    spec = ctx.require_spec(self.name)
    ctx.check_targets(targets)
    self.check_budget(ctx, targets)
    start = time.perf_counter()
    seed = spec.seed + int(self.seed_offset)
    checking = spec.with_seeds((seed,)).with_chunk_size(self.chunk_size or spec.chunk_size)
    count = len(targets)
    rows = [ctx.train.history_rows(int(u)) for u in targets.users]
    minimal: list[list[tuple[tuple[int, ...], int]]] = [[] for _ in range(count)]
    retrains, searched = [0] * count, [0] * count
    control_moved = [False] * count
    for size in range(1, int(self.max_size) + 1):
      batch = []  # (target, rows deleted); rows () is the control
      for b in range(count):
        if minimal[b] or control_moved[b] or len(rows[b]) < size:
          continue
        if size == 1:
          batch.append((b, ()))
        batch += [(b, tuple(sorted(int(r) for r in subset)))
                  for subset in itertools.combinations(rows[b], size)]
        searched[b] = size
      if not batch:
        break
      after = retrain_user_scores(ctx.model, ctx.train,
                                  [(int(targets.users[b]), deleted) for b, deleted in batch],
                                  checking, progress=False, description=self.name)
      index = np.asarray([b for b, _ in batch])
      ranks = np.atleast_1d(rank.rank_of(after, rank.seen_rows(ctx.train, targets.users[index]),
                                         targets.items[index]))
      for (b, deleted), r in zip(batch, ranks):
        retrains[b] += 1
        if not deleted:
          control_moved[b] = bool(r > self.k)
        elif r > self.k and not control_moved[b]:
          minimal[b].append((tuple(int(i) for i in ctx.train.item[list(deleted)]), int(r)))
    seconds = (time.perf_counter() - start) / count
    records = []
    for b, (user, item) in enumerate(targets):
      best = max(minimal[b], key=lambda entry: entry[1])[0] if minimal[b] else ()
      records.append(Explanation(
          user, item, best, None, self.name,
          {"minimal_size": len(best) if best else None,
           "minimal_sets": [list(items) for items, _ in minimal[b]],
           "retrains": retrains[b], "searched_up_to": searched[b],
           "control_moved": control_moved[b], "seed": seed, "seconds_per_target": seconds}))
    return records
