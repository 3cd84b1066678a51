"""The benchmark's verdicts: validity beside its placebo, its noise floor and an interval.

Every explanation of a target (user u, item i) is verified by retraining without it (or, for
an amortised model, by re-scoring the edited input). At a list length K:

* raw validity: the share of targets whose item left the top-K (Yao et al., eq. 2);
* net validity: the share of targets whose item left the top-K while the CONTROL of the same
  verification (nothing deleted, same seeds and steps) kept it in: validity that retraining
  alone could not have produced. Deleting nothing is never net-valid (its new model IS the
  control), so a method's net validity is the part of its raw validity the protocol cannot
  explain away;
* placebo: a random set of the user's items of the SAME size as the method's explanation,
  verified the same way (the method's set must beat deleting any items);
* noise floor: the share of targets whose item left the top-K in the control alone.

A target the method found no explanation for counts as invalid (as ACCENT counts CF %), and
its size is left out of the mean size. Rates carry Wilson 95% intervals; McNemar's test on the
per-target net outcomes compares each method with its placebo and with the best method of its
(protocol, K).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from cfjax.evaluate import significance
from cfjax.evaluate.results import markdown_table
from cfjax.records import VerifiedRecord

PLACEBO = "placebo_"
NOTHING = "none"  # the explainer that deletes nothing: its rows give the noise floor


def budget_of(record) -> str:
  """A record's explanation budget as a label: "e=3" for fixed-size methods, else "own"."""
  budget = record.extra.get("budget")
  return "own" if budget in (None, "own") else f"e={int(budget)}"


@dataclasses.dataclass(frozen=True)
class Outcomes:
  """Per-target outcomes of one (method, budget) under one protocol, over all targets.

  Attributes:
    found: bool[n] an explanation was verified for the target.
    size: int[n] its size (0 if none).
    raw: K -> bool[n] left the top-K.
    net: K -> bool[n] left the top-K while the control kept it in.
  """

  found: np.ndarray
  size: np.ndarray
  raw: dict
  net: dict


def outcomes(verified: Sequence[VerifiedRecord], users: Sequence[int],
             ks: Sequence[int]) -> dict[tuple[str, str], Outcomes]:
  """(method, budget) -> `Outcomes` over `users` (one target per user), from verified records.

  Raises:
    ValueError: if a (method, budget) has two records for one user.
  """
  position = {int(u): n for n, u in enumerate(users)}
  n = len(position)
  table: dict[tuple[str, str], Outcomes] = {}
  for v in verified:
    e = v.explanation
    key = (e.method, budget_of(e))
    if key not in table:
      table[key] = Outcomes(np.zeros(n, bool), np.zeros(n, np.int64),
                            {k: np.zeros(n, bool) for k in ks}, {k: np.zeros(n, bool) for k in ks})
    row, at = table[key], position[e.user]
    if row.found[at]:
      raise ValueError(f"{key} has two records for user {e.user}; explain each target once")
    row.found[at] = True
    row.size[at] = len(e.deleted_items)
    for k in ks:
      row.raw[k][at] = v.left_top_k[k]
      row.net[k][at] = v.left_top_k[k] and v.original_rank <= k
  return table


def _rate(success: np.ndarray) -> dict:
  low, high = significance.wilson_interval(int(success.sum()), len(success))
  return {"rate": float(success.mean()) if len(success) else None,
          "ci95": None if low is None else [low, high]}


def leaderboard_rows(verified: Sequence[VerifiedRecord], users: Sequence[int],
                     ks: Sequence[int], **labels) -> list[dict]:
  """One row per (method, budget, K): raw and net validity with intervals, the method's
  placebo, the noise floor, mean size, McNemar against the placebo and against the best.

  Args:
    verified: every verified record of one protocol: the methods', their placebos
      ("placebo_<method>", same budget label) and the "none" records (the noise floor).
    users: the targets' users (one target each).
    ks: the list lengths K.
    **labels: constant columns of every row (dataset, model, protocol...).

  Returns:
    The rows, ranked within each K by net validity (best first).
  """
  table = outcomes(verified, users, ks)
  if (NOTHING, "own") not in table:
    raise ValueError("the noise floor needs the 'none' records of every target; verify them "
                     "with the others")
  noise = table[(NOTHING, "own")]
  rows = []
  for k in ks:
    methods = [(m, b) for (m, b) in table if m != NOTHING and not m.startswith(PLACEBO)]
    best = max(methods, key=lambda key: table[key].net[k].mean()) if methods else None
    for method, budget in methods:
      mine = table[(method, budget)]
      placebo = table.get((PLACEBO + method, budget))
      row = {**labels, "method": method, "budget": budget, "k": int(k), "targets": len(users),
             "found": int(mine.found.sum()),
             "mean_size": float(mine.size[mine.found].mean()) if mine.found.any() else None}
      for name, value in (("raw", mine.raw[k]), ("net", mine.net[k]),
                          ("noise_floor", noise.raw[k])):
        rate = _rate(value)
        row[f"{name}_validity" if name != "noise_floor" else name] = rate["rate"]
        row[f"{name}_ci95"] = rate["ci95"]
      if placebo is not None:
        placebo_net = placebo.net[k]
        row.update(placebo_net_validity=float(placebo_net.mean()),
                   placebo_net_ci95=_rate(placebo_net)["ci95"],
                   mcnemar_p_vs_placebo=significance.mcnemar(mine.net[k], placebo_net).p_value)
      row["best"] = f"{best[0]} ({best[1]})"
      row["mcnemar_p_vs_best"] = (None if (method, budget) == best else
                                  significance.mcnemar(mine.net[k], table[best].net[k]).p_value)
      rows.append(row)
  return sorted(rows, key=lambda r: (r["k"], -(r["net_validity"] or 0.0)))


def significant(row: dict, level: float = 0.05) -> bool:
  """Whether a row's net validity is above its placebo's with McNemar p < `level`."""
  p = row.get("mcnemar_p_vs_placebo")
  return p is not None and p < level and row["net_validity"] > row["placebo_net_validity"]


# ------------------------------------------------------------------------------ markdown
HEADER = ("method", "budget", "found", "size", "net valid %", "95% CI", "raw %", "placebo net %",
          "p vs placebo", "p vs best", "noise floor %", "s / expl.", "LDS")

# "**Legend.**" tells `results.with_legend` that the table has its legend (no second one).
LEGEND = f"""
**Legend.** A target is a user's top-1 unseen item. net valid: the item left the top-K after
deleting the explanation and verifying (retraining, or re-scoring an amortised model) while
the control of the same verification (nothing deleted, same seeds and steps) kept it in;
raw: left the top-K at all; placebo: a random set of the user's items of the same size as
each explanation, verified the same way; noise floor: the control alone moved the item out;
p: McNemar on per-target net outcomes (* marks net validity above the placebo at p < 0.05);
found: targets with an explanation (a target without one counts as invalid); size: mean
items deleted by found explanations; LDS: Spearman correlation of predicted and actual margin
changes over random half-history deletions (mean over targets); paired: the verification
shares the original's seed. Intervals and p-values need at least {significance.MIN_TARGETS}
targets: below that a table prints point values only.
"""


def percent(value) -> str:
  """A rate in [0, 1] as a whole percentage ("-" for None)."""
  return "-" if value is None else f"{100 * value:.0f}"


def percent_interval(interval, n: int | None = None) -> str:
  """A Wilson interval as "low-high" percentages; `significance.too_few` below MIN_TARGETS."""
  if n is not None and not significance.enough_for_statistics(n):
    return significance.too_few(n)
  return "-" if not interval else f"{100 * interval[0]:.0f}-{100 * interval[1]:.0f}"


def number(value) -> str:
  """A finite number with 2 decimals ("-" for None, NaN, inf)."""
  return "-" if value is None or not np.isfinite(float(value)) else f"{value:.2f}"


def interval(bounds, n: int | None = None) -> str:
  """A real interval "low to high"; `significance.too_few` below MIN_TARGETS."""
  if n is not None and not significance.enough_for_statistics(n):
    return significance.too_few(n)
  if not bounds or bounds[0] is None or not np.isfinite(bounds[0]):
    return "-"
  return f"{bounds[0]:.2f} to {bounds[1]:.2f}"


def p_value(value, n: int | None = None) -> str:
  """A p-value with 3 decimals; `significance.too_few` below MIN_TARGETS targets."""
  if n is not None and not significance.enough_for_statistics(n):
    return significance.too_few(n, "a test")
  return "-" if value is None else f"{value:.3f}"


def seconds(value) -> str:
  """Seconds with 3 decimals (one format for the whole column)."""
  return "-" if value is None else f"{value:.3f}"


def markdown_row(row: dict) -> list[str]:
  """One `leaderboard_rows` row as the cells of `HEADER`; intervals and p-values only when
  the row has at least `significance.MIN_TARGETS` targets."""
  n = row["targets"]
  marked = significant(row) and significance.enough_for_statistics(n)
  return [("* " if marked else "") + row["method"], row["budget"], f"{row['found']}/{n}",
          number(row["mean_size"]), percent(row["net_validity"]),
          percent_interval(row["net_ci95"], n), percent(row["raw_validity"]),
          percent(row.get("placebo_net_validity")),
          p_value(row.get("mcnemar_p_vs_placebo"), n),
          p_value(row["mcnemar_p_vs_best"], n), percent(row["noise_floor"]),
          seconds(row.get("seconds_per_explanation")), number(row.get("lds"))]


def markdown(rows: Sequence[dict]) -> str:
  """`leaderboard_rows` of one (protocol, K) as a markdown table (`HEADER`; see `LEGEND`)."""
  return markdown_table(list(HEADER), [markdown_row(r) for r in rows])
