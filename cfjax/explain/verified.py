"""`verified` (cfjax's, not in Yao et al.): a surrogate's best candidates, checked by retraining.

For each target, the surrogate's ranked candidates (eq. 9, best first) are retrained in
rounds: each round retrains the next `per_round` candidates of every unresolved target in ONE
batched engine call (`cfjax.train.counterfactual.retrain_user_scores`, scratch protocol under
`check_seed`); a target is resolved by the first candidate that moves it out of the top-`k`.
After `budget` candidates the best-scored one is kept. The cost (retrains per target) is
reported beside the record, and a table must verify it under ANOTHER seed than `check_seed`,
or its validity is true by construction.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar

import numpy as np

from cfjax import rank
from cfjax.explain.base import ExplainContext, Targets, get_explainer, register
from cfjax.util import check_int
from cfjax.records import Explanation
from cfjax.train.counterfactual import deletion_rows, retrain_user_scores


@register("verified")
@dataclasses.dataclass(frozen=True)
class VerifiedSearch:
  """Checks a surrogate's ranked candidates by retraining until one works.

  Attributes:
    ranker: the surrogate explainer whose candidates are checked (e.g. "coupled_reg").
    ranker_options: further options of the ranker (e.g. its simulation's size).
    e: explanation size.
    budget: the most candidates retrained per target.
    per_round: candidates per target per round.
    k: the list length the target must leave.
    seed_offset: candidates are retrained under the spec's seed + this (2: neither
      the original's seed nor the usual verification seed + 1).
    max_candidates: candidates the surrogate searches per target.
    search_seed: seed of the surrogate's candidate draws.
    chunk_size: models per compiled engine call (None: 1 for full batch, else 64).
    name: the method name.
  """

  ranker: str = "coupled_reg"
  ranker_options: dict = dataclasses.field(default_factory=dict)
  e: int = 3
  budget: int = 2
  per_round: int = 2
  k: int = 1
  seed_offset: int = 2
  max_candidates: int = 100_000
  search_seed: int = 0
  chunk_size: int | None = None
  name: str = "verified"
  requires = ("row_losses", "user_embeddings", "item_embeddings")
  cost: ClassVar[str] = "simulating"

  def __post_init__(self):
    for name in ("e", "budget", "per_round", "k", "max_candidates"):
      check_int(getattr(self, name), f"verified: {name}", minimum=1)

  def explain(self, ctx: ExplainContext, targets: Targets) -> list[Explanation]:
    """[B] records; extra: {"retrains", "found", "rank_in_search", "k",
    "verification_seed", "engine_models_total"}."""
    if self.budget < 1 or self.per_round < 1:
      raise ValueError(f"budget={self.budget} and per_round={self.per_round} must be >= 1")
    spec = ctx.require_spec(self.name)
    ranker = get_explainer(self.ranker, e=self.e, max_candidates=self.max_candidates,
                           seed=self.search_seed, **self.ranker_options)
    ranked = [result.subsets for result in ranker.ranked(ctx, targets, keep=self.budget)]
    check_seed = spec.seed + self.seed_offset
    checking = spec.with_seeds((check_seed,)).with_chunk_size(self.chunk_size or spec.chunk_size)
    retrain = functools.partial(retrain_user_scores, ctx.model, ctx.train, protocol=checking,
                                progress=False, description="verified")
    found = [None] * len(targets)  # position in the ranking of the first candidate that works
    tried = [0] * len(targets)
    engine_models = 0
    while True:
      todo = [b for b in range(len(targets)) if found[b] is None and tried[b] < len(ranked[b])]
      if not todo:
        break
      batch = [(b, p) for b in todo
               for p in range(tried[b], min(tried[b] + self.per_round, len(ranked[b])))]
      deletions = [(int(targets.users[b]), deletion_rows(ctx.train, targets.users[b],
                                                         ranked[b][p])) for b, p in batch]
      scores = retrain(deletions)
      engine_models += len(set(deletions))
      index = np.asarray([b for b, _ in batch])
      new_rank = np.atleast_1d(rank.rank_of(
          scores, rank.seen_rows(ctx.train, targets.users[index]), targets.items[index]))
      for (b, p), r in zip(batch, new_rank):
        tried[b] = max(tried[b], p + 1)
        if r > self.k and found[b] is None:
          found[b] = p
    return [Explanation(user, item, tuple(int(x) for x in ranked[b][found[b] or 0]),
                        method=self.name,
                        extra={"retrains": tried[b], "found": found[b] is not None,
                               "rank_in_search": found[b] or 0, "k": self.k,
                               "verification_seed": check_seed,
                               "engine_models_total": engine_models})
            for b, (user, item) in enumerate(targets)]
