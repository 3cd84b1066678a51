"""Significance tests and intervals for explanation tables, from scipy.stats.

ACCENT's Table 1 (Tran et al., 2021, sec. 4.1) compares the CF percentages of two methods on
the same users with McNemar's test for paired binary outcomes and CF set sizes with a
one-sided paired t-test, at level 0.05. McNemar's test is the binomial test of the discordant
pairs (exact) or its continuity-corrected chi-square approximation; scipy has both pieces
(`binomtest`, `chi2`) but no McNemar, hence the few lines here. Every rate in a table also
gets a Wilson 95% interval (`wilson_interval`, scipy's `proportion_ci`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterator

import numpy as np
from scipy import stats

EXACT_BELOW = 25  # discordant pairs below which McNemar's test uses the exact binomial test


@dataclasses.dataclass(frozen=True)
class McNemarResult:
  """McNemar's test; unpacks as (statistic, p_value).

  Attributes:
    statistic: exact test: min(b, c); chi-square test: (|b - c| - 1)^2 / (b + c).
    p_value: two-sided p-value.
    method: "exact binomial" or "chi-square, continuity corrected".
    b: pairs where only `success_a` holds.
    c: pairs where only `success_b` holds.
  """

  statistic: float
  p_value: float
  method: str
  b: int
  c: int

  def __iter__(self) -> Iterator[float]:
    return iter((self.statistic, self.p_value))


def mcnemar(success_a, success_b, exact: bool | None = None) -> McNemarResult:
  """McNemar's test that two methods succeed equally often on the same users (ACCENT, sec. 4.1).

  Only discordant pairs count: b (a succeeds, b fails) and c (a fails, b succeeds). With
  b + c < 25 (or `exact=True`) the two-sided exact binomial test of b ~ Bin(b + c, 1/2)
  (`scipy.stats.binomtest`); otherwise the chi-square test with continuity correction,
  (|b - c| - 1)^2 / (b + c) on one degree of freedom. Without discordant pairs p = 1.

  Args:
    success_a: bool[n], method a's outcome per user.
    success_b: bool[n], method b's outcome on the same users, in the same order.
    exact: force the exact (True) or chi-square (False) test; None chooses by b + c.

  Returns:
    A `McNemarResult` (unpacks as statistic, p_value) that names the test used.

  Raises:
    ValueError: if the outcome arrays differ in shape.
  """
  a, b_arr = np.asarray(success_a, dtype=bool), np.asarray(success_b, dtype=bool)
  if a.shape != b_arr.shape or a.ndim != 1:
    raise ValueError(f"outcomes have shapes {a.shape} and {b_arr.shape}; pass two bool[n] "
                     "arrays over the same users")
  b, c = int(np.sum(a & ~b_arr)), int(np.sum(~a & b_arr))
  n = b + c
  if (n < EXACT_BELOW if exact is None else exact):
    p = 1.0 if n == 0 else float(stats.binomtest(min(b, c), n, 0.5).pvalue)
    return McNemarResult(float(min(b, c)), min(1.0, p), "exact binomial", b, c)
  statistic = (abs(b - c) - 1.0) ** 2 / n if n and abs(b - c) > 1 else 0.0
  return McNemarResult(statistic, float(stats.chi2.sf(statistic, df=1)),
                       "chi-square, continuity corrected", b, c)


def paired_t_test_one_sided(x, y, alternative: str = "less") -> tuple[float, float]:
  """One-sided paired t-test of the mean difference x - y (ACCENT's CF set size test, sec. 4.1).

  `scipy.stats.ttest_rel(x, y, alternative=...)`: t = mean(d) / (std(d, ddof=1) / sqrt(n)),
  d = x - y, n - 1 degrees of freedom. `alternative="less"` tests mean(x) < mean(y) (e.g.
  ACCENT's sets are smaller), "greater" the reverse. Fewer than two pairs, or all differences
  zero, give (nan, nan); identical non-zero differences give t = +-inf (p 0 or 1), where scipy
  would warn about a degenerate sample.

  Args:
    x: float[n], e.g. ACCENT's set sizes.
    y: float[n], the other method's sizes for the same users.
    alternative: "less" or "greater".

  Returns:
    (t, p_value).

  Raises:
    ValueError: on unequal shapes or an unknown alternative.
  """
  if alternative not in ("less", "greater"):
    raise ValueError(f"unknown alternative {alternative!r}; pass 'less' or 'greater'")
  x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
  if x.shape != y.shape or x.ndim != 1:
    raise ValueError(f"samples have shapes {x.shape} and {y.shape}; pass two float[n] arrays "
                     "over the same users")
  d = x - y
  if len(d) < 2:
    return math.nan, math.nan
  if float(d.std(ddof=1)) == 0.0:
    mean = float(d.mean())
    if mean == 0.0:
      return math.nan, math.nan
    t = math.copysign(math.inf, mean)
    return t, float((t > 0) == (alternative == "less"))
  result = stats.ttest_rel(x, y, alternative=alternative)
  return float(result.statistic), float(result.pvalue)


def wilson_interval(successes: int, trials: int, confidence: float = 0.95
                    ) -> tuple[float | None, float | None]:
  """Wilson score interval of a success rate (`scipy.stats.binomtest(...).proportion_ci`).

  Returns:
    (low, high) as fractions, or (None, None) without trials.
  """
  if trials <= 0:
    return None, None
  interval = stats.binomtest(int(successes), int(trials)).proportion_ci(
      confidence_level=confidence, method="wilson")
  return float(interval.low), float(interval.high)


# Below this many targets an interval or a test says little (a Wilson interval on 4 targets
# spans most of [0, 1]; McNemar cannot reach p < 0.05 with fewer than 5 discordant pairs), so
# tables print the point value and `too_few(n)` instead.
MIN_TARGETS = 10


def too_few(n: int, what: str = "an interval") -> str:
  """The table cell printed instead of an interval (or `what`) on `n` < MIN_TARGETS targets."""
  return f"n = {n}: too small for {what}"


def enough_for_statistics(n: int | None) -> bool:
  """Whether `n` targets are enough to print an interval or a p-value (n >= MIN_TARGETS)."""
  return n is not None and n >= MIN_TARGETS
