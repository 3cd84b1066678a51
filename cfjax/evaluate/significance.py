"""Significance tests of ACCENT's Table 1 (Tran et al., 2021, sec. 4.1), in numpy and math.

CF percentages of two methods on the same users are compared with McNemar's test for paired
binary outcomes; CF set sizes with a one-sided paired t-test; the significance level is 0.05.
No scipy: the t distribution's tail comes from the regularized incomplete beta function,
evaluated with a continued fraction (modified Lentz).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterator

import numpy as np

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


def _binomial_cdf_half(k: int, n: int) -> float:
  """P(X <= k) for X ~ Binomial(n, 1/2), summed exactly in log space."""
  log_half_n = -n * math.log(2.0)
  terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + log_half_n
           for i in range(k + 1)]
  return min(1.0, sum(math.exp(t) for t in terms))


def mcnemar(success_a, success_b, exact: bool | None = None) -> McNemarResult:
  """McNemar's test that two methods succeed equally often on the same users (ACCENT, sec. 4.1).

  Only discordant pairs count: b (a succeeds, b fails) and c (a fails, b succeeds). With
  b + c < 25 (or `exact=True`) the two-sided exact binomial test of b ~ Bin(b + c, 1/2);
  otherwise the chi-square test with continuity correction, (|b - c| - 1)^2 / (b + c) on one
  degree of freedom. Without discordant pairs the p-value is 1.

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
  use_exact = n < EXACT_BELOW if exact is None else exact
  if use_exact:
    p = 1.0 if n == 0 else min(1.0, 2.0 * _binomial_cdf_half(min(b, c), n))
    return McNemarResult(float(min(b, c)), p, "exact binomial", b, c)
  statistic = 0.0 if n == 0 else (abs(b - c) - 1.0) ** 2 / n if abs(b - c) > 1 else 0.0
  p = math.erfc(math.sqrt(statistic / 2.0))  # chi-square(1) survival function
  return McNemarResult(statistic, p, "chi-square, continuity corrected", b, c)


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
  """The continued fraction of I_x(a, b), evaluated with the modified Lentz method."""
  tiny, eps = 1e-300, 3e-16
  c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
  d = 1.0 / (d if abs(d) > tiny else tiny)
  h = d
  for m in range(1, 10_000):
    for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                      -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
      d = 1.0 + numerator * d
      d = 1.0 / (d if abs(d) > tiny else tiny)
      c = 1.0 + numerator / c
      c = c if abs(c) > tiny else tiny
      h *= d * c
    if abs(d * c - 1.0) < eps:
      break
  return h


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
  """I_x(a, b) for a, b > 0 and x in [0, 1]."""
  if not (a > 0 and b > 0 and 0.0 <= x <= 1.0):
    raise ValueError(f"I_x(a, b) needs a, b > 0 and x in [0, 1]; got a={a}, b={b}, x={x}")
  if x in (0.0, 1.0):
    return x
  log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x)
               + b * math.log1p(-x))
  if x < (a + 1.0) / (a + b + 2.0):
    return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
  return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
  """P(T <= t) for Student's t with `df` degrees of freedom."""
  if math.isinf(t):
    return 1.0 if t > 0 else 0.0
  tail = 0.5 * regularized_incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
  return 1.0 - tail if t > 0 else tail


def paired_t_test_one_sided(x, y, alternative: str = "less") -> tuple[float, float]:
  """One-sided paired t-test of the mean difference x - y (ACCENT's CF set size test, sec. 4.1).

  t = mean(d) / (std(d, ddof=1) / sqrt(n)) with d = x - y on n - 1 degrees of freedom.
  `alternative="less"` tests mean(x) < mean(y) (e.g. ACCENT's sets are smaller), "greater"
  the reverse. Fewer than two pairs, or all differences equal to zero, give (nan, nan);
  identical non-zero differences give t = +-inf.

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
  n = len(d)
  if n < 2:
    return math.nan, math.nan
  mean, sd = float(d.mean()), float(d.std(ddof=1))
  if sd == 0.0:
    if mean == 0.0:
      return math.nan, math.nan
    t = math.copysign(math.inf, mean)
  else:
    t = mean / (sd / math.sqrt(n))
  return t, t_cdf(t if alternative == "less" else -t, n - 1)
