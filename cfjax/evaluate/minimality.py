"""How close a method's explanations come to the exact minimal ones (`exhaustive`).

For each target on which the exhaustive search found its minimal explanations (all sets of
the smallest size m that move the target, under the protocol it retrained with), a method's
set S is *minimal* if it is one of those sets, *at minimal size* if |S| = m, and its *excess*
is |S| - m. A target on which the method found nothing counts as not minimal (and has no
excess). Wilson 95 % intervals from `cfjax.evaluate.significance`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from cfjax.evaluate.significance import wilson_interval
from cfjax.records import Explanation


def minimality(records: Sequence[Explanation], exact: Sequence[Explanation]) -> list[dict]:
  """One row per method: how often its set is minimal and how much larger it is.

  Args:
    records: any methods' explanations (several methods, budgets: grouped by
      (method, extra["budget"] if present)).
    exact: the `exhaustive` explainer's records of the same targets (extra["minimal_sets"]).

  Returns:
    [{"method", "budget", "targets" (compared), "minimal" (fraction), "minimal_ci95",
      "at_minimal_size", "mean_excess" (over found sets), "mean_size", "mean_minimal_size",
      "not_found"}], sorted by method.
  """
  truth = {}
  for record in exact:
    sets = record.extra.get("minimal_sets")
    if sets is None:
      raise ValueError(f"record of ({record.user}, {record.item}) by {record.method!r} has no "
                       "extra['minimal_sets']; pass the exhaustive explainer's records")
    if sets:
      truth[(record.user, record.item)] = {frozenset(int(i) for i in s) for s in sets}
  groups: dict[tuple[str, str], list[Explanation]] = {}
  for record in records:
    if (record.user, record.item) in truth:
      key = (record.method, str(record.extra.get("budget", "")))
      groups.setdefault(key, []).append(record)
  rows = []
  for (method, budget), group in sorted(groups.items()):
    minimal, at_size, excess, sizes, smallest, missing = [], [], [], [], [], 0
    for record in group:
      sets = truth[(record.user, record.item)]
      size = len(next(iter(sets)))
      smallest.append(size)
      if not record.found:
        missing += 1
        minimal.append(False)
        at_size.append(False)
        continue
      chosen = frozenset(record.deleted_items)
      minimal.append(chosen in sets)
      at_size.append(len(chosen) == size)
      excess.append(len(chosen) - size)
      sizes.append(len(chosen))
    hits = int(np.sum(minimal))
    rows.append({"method": method, "budget": budget, "targets": len(group),
                 "minimal": hits / len(group),
                 "minimal_ci95": list(wilson_interval(hits, len(group))),
                 "at_minimal_size": float(np.mean(at_size)),
                 "mean_excess": float(np.mean(excess)) if excess else None,
                 "mean_size": float(np.mean(sizes)) if sizes else None,
                 "mean_minimal_size": float(np.mean(smallest)), "not_found": missing})
  return rows
