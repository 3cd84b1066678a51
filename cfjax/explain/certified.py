"""`certified` (cfjax's): any attribution proposes candidate sets, batched retraining decides.

`verified` checks a surrogate's candidates; this generalises it to every explainer with
`attributions(ctx, targets)` (metagrad by default; influence_function, fia, knn, ...). For
each size s = min_size, ..., max_size in turn, the proposer's `beam` best s-subsets of the
user's history under its additive score (the greedy prefix first, then the best swaps of
items just below it: the top `beam` sets by summed attribution, found among the top
s + beam - 1 items) of every still-unresolved target are retrained in ONE batched engine
call (`cfjax.train.counterfactual.retrain_user_scores`, scratch protocol, paired: every
model shares the check seed's init and batch order). A target is resolved by the first,
i.e. smallest, set that moves it out of the top-`k` while its control (nothing deleted, same
call) keeps it in; a target whose control already moves, or whose budget of retrains is
spent, gets the proposer's top-`fallback_e` prefix, marked uncertified. The record reports
what was spent (retrains, the control included).

Certification runs under the spec's seed + `seed_offset` (2 by default, as
`verified`): a table must verify it under another seed or protocol, or its validity is true
by construction.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from typing import ClassVar

import numpy as np

from cfjax import rank
from cfjax.explain.base import ExplainContext, Targets, get_explainer, has_attributions, register
from cfjax.records import Explanation
from cfjax.train.counterfactual import deletion_rows, retrain_user_scores
from cfjax.util import check_int


def best_subsets(scores, size: int, count: int) -> list[tuple[int, ...]]:
  """The `count` best `size`-subsets of positions by summed score, best first.

  Any subset among the `count` best uses only the top size + count - 1 positions (a subset
  with a lower item is beaten by at least `count` subsets of better items), so only those are
  enumerated. Ties: the earlier positions in score order (stable) win.

  Args:
    scores: float[R] one score per candidate item (position).
    size: subset size s.
    count: how many subsets.

  Returns:
    Up to `count` tuples of positions (each sorted by decreasing score); [] if R < s.
  """
  scores = np.asarray(scores, np.float64)
  if size > scores.size or size < 1:
    return []
  order = np.argsort(-scores, kind="stable")[: size + count - 1]
  subsets = list(itertools.combinations(range(order.size), size))  # ranks in `order`
  subsets.sort(key=lambda ranks: (-scores[order[list(ranks)]].sum(), ranks))
  return [tuple(int(order[r]) for r in ranks) for ranks in subsets[:count]]


@register("certified")
@dataclasses.dataclass(frozen=True)
class Certified:
  """The smallest proposed set that retraining confirms, within a budget of retrains.

  Attributes:
    proposer: an explainer with `attributions` (default "metagrad").
    proposer_options: its options.
    min_size, max_size: the set sizes tried, in increasing order.
    beam: candidate sets per size (1: greedy prefixes only).
    budget: the most retrains per target, its control included.
    k: the list length the target must leave.
    seed_offset: candidates are retrained under the spec's seed + this.
    fallback_e: size of the proposer's prefix returned for a target not certified.
    chunk_size: models per compiled engine call (None: 1 for full batch, else 64).
    name: the method name.
  """

  proposer: str = "metagrad"
  proposer_options: dict = dataclasses.field(default_factory=dict)
  min_size: int = 1
  max_size: int = 5
  beam: int = 2
  budget: int = 11
  k: int = 1
  seed_offset: int = 2
  fallback_e: int = 3
  chunk_size: int | None = None
  name: str = "certified"

  def __post_init__(self):
    for option in ("min_size", "max_size", "beam", "k", "fallback_e"):
      check_int(getattr(self, option), f"certified: {option}", minimum=1)
    check_int(self.budget, "certified: budget", minimum=2)
    check_int(self.seed_offset, "certified: seed_offset")
    if self.max_size < self.min_size:
      raise ValueError(f"certified: max_size={self.max_size} is below min_size="
                       f"{self.min_size}; pass max_size >= min_size")
    if not has_attributions(self.proposer_explainer()):
      raise ValueError(f"certified: proposer {self.proposer!r} has no attributions(ctx, "
                       "targets); pick one that scores history items (metagrad, "
                       "influence_function, fia, knn, ...)")

  def proposer_explainer(self):
    return get_explainer(self.proposer, **dict(self.proposer_options))

  cost: ClassVar[str] = "slow"

  @property
  def requires(self) -> tuple[str, ...]:
    return tuple(dict.fromkeys(("row_losses",) + tuple(self.proposer_explainer().requires)))

  def explain(self, ctx: ExplainContext, targets: Targets) -> list[Explanation]:
    """[B] records; extra: {"certified", "retrains", "size", "rank_after", "control_moved",
    "check_seed", "proposer", "engine_models_total", "seconds_per_target"}."""
    spec = ctx.require_spec(self.name)
    ctx.check_targets(targets)
    start = time.perf_counter()
    attributions = self.proposer_explainer().attributions(ctx, targets)
    items = [np.asarray(sorted(a), np.int64) for a in attributions]
    scores = [np.asarray([a[int(i)] for i in its], np.float64)
              for a, its in zip(attributions, items)]
    check_seed = spec.seed + int(self.seed_offset)
    checking = spec.with_seeds((check_seed,)).with_chunk_size(self.chunk_size or spec.chunk_size)
    count = len(targets)
    found: list[tuple[int, ...] | None] = [None] * count
    found_rank = [0] * count
    spent = [0] * count
    control_moved = [False] * count
    engine_models = 0
    for size in range(int(self.min_size), int(self.max_size) + 1):
      batch = []  # (target, positions or None for the control)
      for b in range(count):
        if found[b] is not None or control_moved[b]:
          continue
        if size == self.min_size:
          batch.append((b, None))
          spent[b] += 1
        room = int(self.budget) - spent[b]
        for subset in best_subsets(scores[b], size, int(self.beam))[:max(room, 0)]:
          batch.append((b, subset))
          spent[b] += 1
      if not batch:
        continue
      deletions = [(int(targets.users[b]), () if subset is None else
                    deletion_rows(ctx.train, targets.users[b], items[b][list(subset)]))
                   for b, subset in batch]
      after = retrain_user_scores(ctx.model, ctx.train, deletions, checking, progress=False,
                                  description=self.name)
      engine_models += len(set(deletions))
      index = np.asarray([b for b, _ in batch])
      ranks = np.atleast_1d(rank.rank_of(after, rank.seen_rows(ctx.train, targets.users[index]),
                                         targets.items[index]))
      for (b, subset), r in zip(batch, ranks):
        if subset is None:
          control_moved[b] = bool(r > self.k)
        elif r > self.k and found[b] is None and not control_moved[b]:
          found[b], found_rank[b] = subset, int(r)
    seconds = (time.perf_counter() - start) / count
    records = []
    for b, (user, item) in enumerate(targets):
      chosen = found[b] if found[b] is not None else tuple(
          np.argsort(-scores[b], kind="stable")[: int(self.fallback_e)])
      records.append(Explanation(
          user, item, tuple(int(items[b][p]) for p in chosen), None, self.name,
          {"certified": found[b] is not None, "retrains": spent[b], "size": len(chosen),
           "rank_after": found_rank[b] if found[b] is not None else None,
           "control_moved": control_moved[b], "check_seed": check_seed,
           "proposer": self.proposer, "engine_models_total": engine_models,
           "seconds_per_target": seconds}))
    return records
