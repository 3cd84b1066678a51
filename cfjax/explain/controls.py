"""The controls every table stands beside: a random placebo and the empty explanation.

* `random` (the placebo): a uniformly random e-subset of the user's training items. A method
  is only worth its validity if it beats deleting *any* e items of the same user.
* `none` (the noise floor): nothing deleted. Whatever validity it earns comes from the
  verification protocol itself (another seed, continued training), not from a deletion.

Yao et al. (sec. 6.1) and ACCENT (sec. 4.1) report neither; cfjax puts both in every table.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from cfjax.explain.base import ExplainContext, Targets, register
from cfjax.util import check_int
from cfjax.records import Explanation

ATTRIBUTION_SALT = 0xA77B  # separates the attribution draws from the placebo's


@register("random")
@dataclasses.dataclass(frozen=True)
class RandomPlacebo:
  """Placebo: a uniformly random `e`-subset of each user's training items.

  Draws run in target order from ONE generator seeded with `seed` (an int or a tuple of
  ints, numpy's entropy), so a batch of targets is reproducible as a whole.
  """

  e: int = 3
  seed: int | tuple[int, ...] = 0
  name: str = "random"
  requires: ClassVar[tuple[str, ...]] = ()
  cost: ClassVar[str] = "fast"

  def __post_init__(self):
    check_int(self.e, "random: e", minimum=1)

  def attributions(self, ctx: ExplainContext, targets: Targets) -> list[dict[int, float]]:
    """[B] {history item: a standard-normal draw}: the control of the attribution test.

    Independent of the model, so its linear datamodeling score (`cfjax.evaluate.lds`) is ~0
    in expectation. Each target draws from its own generator, seeded by
    (ATTRIBUTION_SALT, seed, user, item), in history order: a target's scores do not depend
    on the other targets of the batch.
    """
    ctx.check_targets(targets)
    seed = list(self.seed) if isinstance(self.seed, (tuple, list)) else [self.seed]
    out = []
    for user, item in targets:
      rng = np.random.default_rng([ATTRIBUTION_SALT, *seed, user, item])
      history = ctx.train.history_items(user)
      out.append(dict(zip(history.tolist(), rng.standard_normal(len(history)).tolist())))
    return out

  def explain(self, ctx: ExplainContext, targets: Targets) -> list[Explanation]:
    """[B] records: `e` history items drawn without replacement (Yao et al.'s placebo size)."""
    if int(self.e) < 1:
      raise ValueError(f"e={self.e} must be >= 1; pass the placebo's size")
    ctx.check_targets(targets, min_history=int(self.e), reason=f"the placebo deletes {self.e}")
    seed = list(self.seed) if isinstance(self.seed, (tuple, list)) else self.seed
    rng = np.random.default_rng(seed)
    records = []
    for user, item in targets:
      chosen = rng.choice(ctx.train.history_items(user), int(self.e), replace=False)
      records.append(Explanation(user, item, tuple(int(i) for i in chosen), method=self.name))
    return records


@register("none")
@dataclasses.dataclass(frozen=True)
class NothingDeleted:
  """The noise floor: deletes nothing, so its validity is the verification protocol's own."""

  name: str = "none"
  requires: ClassVar[tuple[str, ...]] = ()
  cost: ClassVar[str] = "fast"

  def explain(self, ctx: ExplainContext, targets: Targets) -> list[Explanation]:
    """[B] records with an empty deleted set."""
    del ctx
    return [Explanation(user, item, (), method=self.name) for user, item in targets]
