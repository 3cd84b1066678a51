"""Comparing explainers the right way, in one call: `compare` (also `cfjax.compare`).

A method's validity means little alone: retraining moves items by itself (the noise floor),
and deleting ANY few items of a user may move the target (the placebo). `compare` runs each
explainer on the same targets, keeps the explanations it found (a target without one counts
as invalid), adds a same-size random placebo of each (`cf_table.placebo_record`) and the
nothing-deleted control of every target (the "none" explainer), verifies all of them in ONE
`verify` call under the given protocol, and ranks the methods by net validity beside their
placebo and the noise floor, with Wilson intervals and McNemar tests
(`cfjax.evaluate.leaderboard`). The benchmark (`cfjax.workflows.benchmark`) builds its cells
with the same functions (`labelled`, `with_controls`, `leaderboard.leaderboard_rows`).

    comparison = cfjax.compare(["knn", "fia"], ctx, targets, protocol=spec.continued(50))
    print(comparison.markdown())         # or comparison.to_pandas(), comparison.verified
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from typing import Sequence

import pandas as pd

from cfjax.evaluate import leaderboard as lb
from cfjax import util
from cfjax.evaluate import significance
from cfjax.evaluate.cf_table import placebo_record
from cfjax.evaluate.verify import verify
from cfjax.explain import ExplainContext, Targets, get_explainer, run_explainer
from cfjax.records import Explanation, VerifiedRecord
from cfjax.train import RetrainProtocol

logger = logging.getLogger(__name__)


def budget_label(explainer) -> int | str:
  """The budget an explainer explains with: its size option `e` (fixed-size methods), else
  "own" (adaptive methods choose their own size)."""
  size = getattr(explainer, "e", None)
  return int(size) if isinstance(size, int) and not isinstance(size, bool) else "own"


def labelled(records: Sequence[Explanation], method: str,
             budget: int | str) -> list[Explanation]:
  """The records named `method` with extra["budget"] = `budget` (the leaderboard's keys)."""
  return [dataclasses.replace(r, method=method, extra={**r.extra, "budget": budget})
          for r in records]


def found_records(records: Sequence[Explanation]) -> list[Explanation]:
  """The records whose explainer found an explanation (`Explanation.found`); logs a warning
  per (method, budget) saying how many were left out and why (they count as invalid)."""
  kept = [r for r in records if r.found]
  missing = Counter((r.method, lb.budget_of(r)) for r in records if not r.found)
  totals = Counter((r.method, lb.budget_of(r)) for r in records)
  for (method, budget), count in missing.items():
    logger.warning("%s (%s): kept %d of %d records: %d found no explanation (an empty or "
                   "failed set; each counts as an invalid target in the table)", method, budget,
                   totals[(method, budget)] - count, totals[(method, budget)], count)
  return kept


def with_controls(records: Sequence[Explanation], ctx: ExplainContext, targets: Targets,
                  seed: int) -> list[Explanation]:
  """The found explanations (`found_records`), a same-size placebo of each (same budget
  label, drawn from the user's history under `seed`), and the "none" record of every target
  (its verification is the noise floor): what `leaderboard.leaderboard_rows` needs."""
  found = found_records(records)
  placebos = [dataclasses.replace(placebo_record(r, ctx.train, seed),
                                  extra={"budget": r.extra["budget"], "placebo_of": r.method})
              for r in found]
  nothing = labelled(run_explainer(get_explainer(lb.NOTHING), ctx, targets), lb.NOTHING, "own")
  return found + placebos + nothing


@dataclasses.dataclass(frozen=True)
class Comparison:
  """What `compare` found.

  Attributes:
    rows: the leaderboard, one dict per (method, budget, K), ranked within each K by net
      validity (`leaderboard.leaderboard_rows`: net_validity, net_ci95, raw_validity,
      placebo_net_validity, mcnemar_p_vs_placebo, noise_floor, found, mean_size, ...) and
      seconds_per_explanation (the explainer's seconds per target).
    verified: every verified record: the methods' found explanations, their placebos
      ("placebo_<method>") and the nothing-deleted controls ("none").
    protocol: the verification protocol.
    ks: the list lengths K.
    targets: the number of targets.
  """

  rows: tuple[dict, ...]
  verified: tuple[VerifiedRecord, ...]
  protocol: RetrainProtocol
  ks: tuple[int, ...]
  targets: int

  @property
  def table(self) -> list[dict]:
    """The leaderboard rows as a list of dicts (a copy)."""
    return [dict(r) for r in self.rows]

  def to_pandas(self) -> pd.DataFrame:
    """The leaderboard rows as a DataFrame, one row per (method, budget, K)."""
    return pd.DataFrame(self.table)

  def markdown(self) -> str:
    """The leaderboard per K as markdown tables, then the legend; intervals and p-values only
    with at least `significance.MIN_TARGETS` targets."""
    p = self.protocol
    how = ("re-scoring the edited input" if p.kind == "rescore" else
           f"{p.kind} retraining ({p.steps} steps, seeds {list(p.seeds)})")
    parts = [f"## {self.targets} targets, verified by {how}\n"]
    for k in self.ks:
      parts.append(f"\n### K = {k}\n\n")
      parts.append(lb.markdown([r for r in self.rows if r["k"] == k]))
    if not significance.enough_for_statistics(self.targets):
      parts.append(f"\nn = {self.targets} targets: too few for intervals and tests (at least "
                   f"{significance.MIN_TARGETS}); point values only.\n")
    parts.append(lb.LEGEND)
    return "".join(parts)


def _explainers(explainers) -> list:
  if isinstance(explainers, str) or not isinstance(explainers, Sequence) or not explainers:
    raise ValueError("pass a list of explainers or registered names, e.g. ['knn', 'fia']")
  made = [get_explainer(e) if isinstance(e, str) else e for e in explainers]
  keys = [(e.name, budget_label(e)) for e in made]
  repeated = sorted({k for k in keys if keys.count(k) > 1})
  if repeated:
    raise ValueError(f"explainers {repeated} appear twice (same name and size e); pass each "
                     "once, or register one under another name")
  if any(name == lb.NOTHING or name.startswith(lb.PLACEBO) for name, _ in keys):
    raise ValueError(f"'{lb.NOTHING}' and 'placebo_*' are the controls compare adds itself; "
                     "leave them out of the explainers")
  return made


def compare(explainers: Sequence, ctx: ExplainContext, targets: Targets, *,
            protocol: RetrainProtocol, ks: Sequence[int] = (1,), seed: int = 0,
            progress: bool = True) -> Comparison:
  """Ranks explainers by net validity beside a same-size placebo and the noise floor.

  Runs each explainer on `targets` (`run_explainer`), keeps the explanations it found (a
  target without one counts as invalid; a warning says how many), draws one same-size random
  placebo per explanation from the user's history, adds the nothing-deleted control of every
  target, and verifies all of them in one `verify` call under `protocol`.

  Args:
    explainers: explainer objects or registered names (`cfjax.explain.available_explainers`);
      a method with a size option `e` is labelled "e=<e>", an adaptive one "own".
    ctx: the explain context of the trained original (`ExplainContext.from_original`).
    targets: the (user, item) targets, one per user (e.g. `explain.top1_targets`).
    protocol: how to verify (`RetrainProtocol`): the original's (`spec.paired()`) or one
      derived from it (`spec.continued(50)`, `spec.with_seed_offsets([1])`, ...).
    ks: the list lengths K.
    seed: the placebo draw's seed.
    progress: show the engine's progress bar.

  Returns:
    A `Comparison`: `.table` / `.to_pandas()` (one row per method, budget and K),
    `.markdown()`, `.verified`.

  Raises:
    ValueError: on bad explainers (a name twice, a control), a target user listed twice, or
      a context without its trained original.
  """
  made = _explainers(explainers)
  if ctx.original is None:
    raise ValueError("the context has no trained original; build it with "
                     "ExplainContext.from_original(model, train, original, spec)")
  users = [int(u) for u in targets.users]
  if len(set(users)) != len(users):
    raise ValueError("compare needs one target per user; pass each user once")
  records, seconds = [], {}
  for e in made:
    with util.timed() as watch:
      found = run_explainer(e, ctx, targets)
    mine = labelled(found, e.name, budget_label(e))
    seconds[(e.name, lb.budget_of(mine[0]))] = watch.seconds / len(targets)
    records += mine
  to_verify = with_controls(records, ctx, targets, seed)
  verified = verify(to_verify, model=ctx.model, train=ctx.train, original=ctx.original,
                    protocol=protocol, ks=ks, progress=progress)
  rows = [{**r, "seconds_per_explanation": seconds[(r["method"], r["budget"])]}
          for r in lb.leaderboard_rows(verified, users, list(ks))]
  return Comparison(tuple(rows), tuple(verified), protocol, tuple(int(k) for k in ks),
                    len(users))
