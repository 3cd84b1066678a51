"""An ACCENT-style table for any explainer (Tran et al., 2021, sec. 4.1, Table 1).

For each candidate set size k, every method explains the same users: a CF set (deleted items)
and a replacement expected to overtake the user's top-1 recommendation. Each explanation is
verified by retraining without its CF set; it is counterfactual ("a success") if the
replacement's new score exceeds the top-1's (`VerifiedRecord.replacement_overtook`). A placebo
per method deletes a random set of the user's training items of the same size, with the same
top-1 and replacement (`placebo_record`). A noise-floor row per method ("noise_<method>")
counts the users whose replacement already overtakes the top-1 in the CONTROL retrain, which
deletes nothing under the same seeds and steps: the success rate retraining alone would earn.

Counting, as ACCENT's evaluation does: the CF percentage of (method, k) is 100 * successes /
users explained, where a user without an explanation (search failed, no replacement or an
empty set) counts as a failure; the CF set size is the mean |CF set| over the successes only.
Every CF percentage has a Wilson 95% interval. McNemar's test compares success per user
between the reference method and every other method (and between each method and its
placebo and noise floor); the one-sided paired t-test compares set sizes over the users where
both methods succeeded (ACCENT's compare.py pairs the same users), alternative: the first
method's sets are smaller.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import Counter
from typing import Mapping, Sequence

import numpy as np

from cfjax.data.interactions import Interactions
from cfjax.evaluate import significance
from cfjax.evaluate.results import markdown_table
from cfjax.records import Explanation, VerifiedRecord

METHODS = ("pure_fia", "fia", "accent")
REFERENCE = "accent"
logger = logging.getLogger(__name__)
PLACEBO = "placebo_"
NOISE = "noise_"

COUNTING = ("CF percentage = 100 * successes / users explained; a user whose search failed "
            "(no replacement or empty set) counts as a failure. Success: the replacement's "
            "seed-averaged retrained score exceeds the top-1's. CF size = mean |CF set| over "
            "successes. McNemar (two-sided; exact binomial if discordant < 25, else chi-square "
            "with continuity correction) on success per user; one-sided paired t-test (a smaller) "
            "on sizes of users where both succeeded. noise_<method>: the same test in the "
            "control retrain that deletes nothing (the protocol's noise floor).")

def placebo_name(method: str) -> str:
  """The placebo's method name, e.g. "placebo_accent"."""
  return PLACEBO + method


def noise_name(method: str) -> str:
  """The noise-floor row's name, e.g. "noise_accent"."""
  return NOISE + method


def _blank_outcome(num_users: int) -> dict[str, np.ndarray]:
  """found / success bool[n] and size int[n], all False / 0 (no record: a failure)."""
  return {"found": np.zeros(num_users, bool), "success": np.zeros(num_users, bool),
          "size": np.zeros(num_users, np.int64)}


def noise_outcome(verified: Sequence[VerifiedRecord], users: Sequence[int],
                  method: str) -> dict[str, np.ndarray] | None:
  """The noise floor of `method`'s records: success where the replacement's CONTROL score
  (nothing deleted) exceeds the item's; None if a record predates the control's replacement
  score (results written before it was recorded)."""
  position = {int(u): n for n, u in enumerate(users)}
  row = _blank_outcome(len(users))
  for v in verified:
    e = v.explanation
    if e.method != method or e.user not in position:
      continue
    if v.replacement_score_original is None:
      return None
    n = position[e.user]
    row["found"][n] = True
    row["success"][n] = v.replacement_score_original > v.item_score_original
  return row


def is_found(record: Explanation | None) -> bool:
  """Whether the explainer returned a usable explanation: a non-empty set and a replacement."""
  return why_not_found(record) is None


def placebo_record(record: Explanation, train: Interactions, seed: int) -> Explanation:
  """A random CF set of the same size from the user's history, same item and replacement.

  The draw depends only on (seed, user, size), so equal sizes give equal sets across methods
  and k (and their retrained models are shared by `verify`).
  """
  history = np.sort(train.history_items(record.user))
  size = len(record.deleted_items)
  if size > len(history):
    raise ValueError(f"user {record.user}'s CF set has {size} items but the history only "
                     f"{len(history)}; explanations must delete training items of the user")
  rng = np.random.default_rng([seed, record.user, size])
  items = tuple(sorted(int(i) for i in rng.choice(history, size, replace=False)))
  return Explanation(user=record.user, item=record.item, deleted_items=items,
                     replacement=record.replacement, method=placebo_name(record.method),
                     extra={"placebo_of": record.method, "k": record.extra.get("k")})


def with_k(record: Explanation, k: int) -> Explanation:
  """The record with extra["k"] = k, so records of several k stay apart in one file."""
  return dataclasses.replace(record, extra={**record.extra, "k": int(k)})


def why_not_found(record: Explanation | None) -> str | None:
  """Why `is_found` rejects a record ("no record", "no replacement item", "an empty set",
  "a failed search"), or None if it is found."""
  if record is None:
    return "no record"
  if record.replacement is None:
    return "no replacement item"
  if not record.deleted_items:
    return "an empty set"
  if not record.extra.get("found", True) or record.extra.get("failed", False):
    return "a failed search"
  return None


def dropped_message(method: str, reasons: Sequence[str | None]) -> str | None:
  """"<method>: kept 0 of 60 records: 60 have no replacement item (...)" for a method whose
  records `reasons` (one per record, None = kept) lost any; None if none was dropped."""
  counts = Counter(r for r in reasons if r is not None)
  if not counts:
    return None
  why = ", ".join(f"{n} have {reason}" for reason, n in counts.most_common())
  hint = (" (ACCENT-style tables need one; use cfjax.compare for methods without)"
          if "no replacement item" in counts else " (each counts as a failure)")
  return f"{method}: kept {len(reasons) - sum(counts.values())} of {len(reasons)} records: " + (
      why + hint)


def records_to_verify(explanations: Mapping[str, Sequence[Explanation]],
                      train: Interactions, seed: int) -> list[Explanation]:
  """The found explanations of every method (`is_found`) followed by their placebos, in
  method order. A method whose records were left out logs a warning saying how many and why
  (a user without a found explanation counts as a failure in the table).

  Raises:
    ValueError: if no record of any method is found (the table would be all zeros), e.g.
      methods that give no replacement item (knn): compare them with `cfjax.compare`.
  """
  found, lines = [], []
  for method, records in explanations.items():
    reasons = [why_not_found(r) for r in records]
    found += [r for r, reason in zip(records, reasons) if reason is None]
    line = dropped_message(method, reasons)
    if line is not None:
      lines.append(line)
      logger.warning(line)
  if not found:
    raise ValueError("no explanation to verify: " + ("; ".join(lines) or "no records given"))
  return found + [placebo_record(r, train, seed) for r in found]


def outcomes(verified: Sequence[VerifiedRecord], users: Sequence[int],
             methods: Sequence[str]) -> dict[str, dict[str, np.ndarray]]:
  """Per method: success bool[n] and CF set size int[n] over `users` (missing: failure, 0).

  Raises:
    ValueError: if a method has two verified records for one user.
  """
  position = {int(u): n for n, u in enumerate(users)}
  result = {m: _blank_outcome(len(users)) for m in methods}
  for v in verified:
    e = v.explanation
    if e.method not in result or e.user not in position:
      continue
    row = result[e.method]
    n = position[e.user]
    if row["found"][n]:
      raise ValueError(f"method {e.method} has two records for user {e.user}; pass one "
                       "explanation per user and k")
    row["found"][n] = True
    row["success"][n] = bool(v.replacement_overtook)
    row["size"][n] = len(e.deleted_items)
  return result


def method_summary(outcome: Mapping[str, np.ndarray], sized: bool = True) -> dict:
  """users, found, successes, CF percentage (of all users) and CF size (mean over successes;
  None for rows that delete nothing, `sized=False`)."""
  success, size = outcome["success"], outcome["size"]
  users, successes = len(success), int(success.sum())
  low, high = significance.wilson_interval(successes, users)
  return {"users": users, "found": int(outcome["found"].sum()), "successes": successes,
          "cf_percentage": 100.0 * successes / users if users else None,
          "cf_percentage_ci": None if low is None else [100.0 * low, 100.0 * high],
          "cf_size": float(size[success].mean()) if successes and sized else None}


def _finite(value: float) -> float | None:
  return None if value is None or not math.isfinite(value) else float(value)


def compare(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], sizes: bool = True) -> dict:
  """McNemar on success and the one-sided paired t-test (a smaller) on sizes where both succeed
  (not for a row that deletes nothing, `sizes=False`)."""
  test = significance.mcnemar(a["success"], b["success"])
  both = a["success"] & b["success"]
  t, p = (significance.paired_t_test_one_sided(a["size"][both], b["size"][both], "less")
          if sizes else (None, None))
  return {"mcnemar_statistic": test.statistic, "mcnemar_p": test.p_value,
          "mcnemar_test": test.method, "only_a": test.b, "only_b": test.c,
          "size_pairs": int(both.sum()), "size_t": _finite(t), "size_p": _finite(p)}


def comparisons(outcome_by_method: Mapping[str, Mapping], reference: str = REFERENCE) -> list:
  """`reference` vs every other method and placebo, each baseline vs its own placebo, and each
  method vs its noise floor."""
  pairs = [(reference, m) for m in outcome_by_method
           if m != reference and not m.startswith(NOISE)]
  pairs += [(m, placebo_name(m)) for m in outcome_by_method
            if not m.startswith((PLACEBO, NOISE)) and m != reference
            and placebo_name(m) in outcome_by_method]
  pairs += [(m, noise_name(m)) for m in outcome_by_method
            if noise_name(m) in outcome_by_method]
  if reference not in outcome_by_method:
    pairs = [p for p in pairs if p[0] != reference]
  return [{"a": a, "b": b, **compare(outcome_by_method[a], outcome_by_method[b],
                                     sizes=not b.startswith(NOISE))}
          for a, b in pairs]


def evaluate_k(verified: Sequence[VerifiedRecord], users: Sequence[int],
               methods: Sequence[str] = METHODS) -> dict:
  """The Table 1 cell values and tests of one k: {"methods": {...}, "comparisons": [...]}."""
  names = list(methods) + [placebo_name(m) for m in methods]
  by_method = outcomes(verified, users, names)
  for m in methods:
    noise = noise_outcome(verified, users, m)
    if noise is not None:
      by_method[noise_name(m)] = noise
  return {"methods": {m: method_summary(o, sized=not m.startswith(NOISE))
                      for m, o in by_method.items()},
          "comparisons": comparisons(by_method)}


def table(verified_by_k: Mapping[int, Sequence[VerifiedRecord]], users: Sequence[int],
          paper: Mapping[tuple[str, int], tuple[float, float]],
          methods: Sequence[str] = METHODS) -> dict:
  """table.json: one row per (method, k, metric) with the paper's value, and the tests per k.

  Args:
    verified_by_k: candidate set size k -> the verified records of that k (the methods'
      found explanations and their placebos, `records_to_verify`); a table of one k is
      `{k: verified}`.
    users: the users explained (one target each); a user without a record counts as a
      failure.
    paper: (method, k) -> the published (CF %, CF size) to print beside ours; `{}` for none.
    methods: the methods to tabulate (each with its placebo and noise floor); ACCENT's
      comparisons use `REFERENCE` ("accent") when it is among them.
  """
  rows, tests = [], {}
  for k, verified in verified_by_k.items():
    result = evaluate_k(verified, users, methods)
    tests[int(k)] = result["comparisons"]
    for method, summary in result["methods"].items():
      for index, metric in enumerate(("cf_percentage", "cf_size")):
        published = paper.get((method, int(k)))
        rows.append({"method": method, "k": int(k), "metric": metric, "ours": summary[metric],
                     "paper": None if published is None else published[index],
                     "users": summary["users"], "found": summary["found"],
                     "successes": summary["successes"],
                     **({"ci95": summary["cf_percentage_ci"]} if index == 0 else {})})
  return {"rows": rows, "comparisons": tests, "users": len(users), "counting": COUNTING,
          "warnings": noise_warnings(rows)}


def noise_warnings(rows: Sequence[dict]) -> list[str]:
  """A line for each (method, k) whose noise floor (noise_<method>: the control retrain lets
  the replacement overtake with nothing deleted) lies within the method's 95% interval."""
  cf = {(r["method"], r["k"]): r for r in rows if r["metric"] == "cf_percentage"}
  lines = []
  for (method, k), row in cf.items():
    noise = cf.get((noise_name(method), k))
    if noise is None or noise["ours"] is None or not row.get("ci95"):
      continue
    low, high = row["ci95"]
    if low <= noise["ours"] <= high:
      lines.append(f"warning: at k={k} the noise floor of {method} ({noise['ours']:.1f}%, "
                   f"nothing deleted) lies within its 95% interval ({low:.1f}-{high:.1f}%): "
                   "this protocol cannot tell it from deleting nothing")
  return lines


def markdown(result: dict) -> str:
  """table.md: Table 1 rows (ours beside the paper's) and the tests' p-values; on fewer than
  `significance.MIN_TARGETS` users the intervals, tests and paper values give way to a note."""
  cells: dict[tuple[str, int], dict] = {}
  for row in result["rows"]:
    cell = cells.setdefault((row["method"], row["k"]), dict(row))
    cell[row["metric"]] = row["ours"]
    cell[row["metric"] + "_paper"] = row["paper"]
    if "ci95" in row:
      cell["ci95"] = row["ci95"]
  users = result["users"]
  if significance.enough_for_statistics(users):
    interval = lambda ci: "-" if not ci else f"{ci[0]:.1f}-{ci[1]:.1f}"
    paper = lambda value: value
    test = lambda value: value
  else:  # on a handful of users an interval, a test or the paper's value says nothing
    interval = lambda ci: significance.too_few(users)
    paper = lambda value: f"n = {users}: no paper comparison"
    test = lambda value: significance.too_few(users, "a test")
  header = ["method", "k", "CF % (ours)", "95% CI", "CF % (paper)", "CF size (ours)",
            "CF size (paper)", "found", "successes", "users"]
  body = [[m, k, c.get("cf_percentage"), interval(c.get("ci95")),
           paper(c.get("cf_percentage_paper")), c.get("cf_size"), paper(c.get("cf_size_paper")),
           c["found"], c["successes"], c["users"]]
          for (m, k), c in cells.items()]
  tests = [[k, t["a"], t["b"], t["only_a"], t["only_b"], test(t["mcnemar_p"]), t["mcnemar_test"],
            t["size_pairs"], test(t["size_t"]), test(t["size_p"])]
           for k, ts in result["comparisons"].items() for t in ts]
  warnings = "".join(f"\n{line}\n" for line in result.get("warnings", []))
  return (markdown_table(header, body) + warnings + "\nMcNemar (two-sided p; only_a/only_b: "
          "discordant users) and one-sided paired t-test on CF sizes where both succeed (a "
          "smaller):\n\n"
          + markdown_table(["k", "a", "b", "only a", "only b", "McNemar p", "test", "pairs",
                            "t", "t-test p"], tests))
