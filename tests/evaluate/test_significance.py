"""Significance tests against hand-computed values and closed forms."""

import math

import numpy as np
import pytest

from cfjax.evaluate import significance as sig


def pairs(b, c, both=0, neither=0):
  """Outcome arrays with b (a only), c (b only), both and neither pairs."""
  a = [True] * b + [False] * c + [True] * both + [False] * neither
  other = [False] * b + [True] * c + [True] * both + [False] * neither
  return np.array(a), np.array(other)


def test_mcnemar_exact_by_hand():
  # b=1, c=6: P(X <= 1 | Bin(7, 1/2)) = (1 + 7) / 128, two-sided doubles it.
  result = sig.mcnemar(*pairs(1, 6, both=10, neither=3))
  assert result.method == "exact binomial" and (result.b, result.c) == (1, 6)
  statistic, p = result
  assert statistic == 1.0 and p == pytest.approx(16 / 128)


def test_mcnemar_chi_square_textbook():
  # Agresti's presidential approval table: b=150, c=86, continuity corrected.
  statistic, p = result = sig.mcnemar(*pairs(150, 86, both=794, neither=570))
  assert result.method.startswith("chi-square")
  assert statistic == pytest.approx(63 ** 2 / 236)
  assert p == pytest.approx(math.erfc(math.sqrt(63 ** 2 / 236 / 2)))
  assert p == pytest.approx(4.115e-5, rel=1e-2)


def test_mcnemar_edges():
  assert tuple(sig.mcnemar(*pairs(0, 0, both=4))) == (0.0, 1.0)
  assert sig.mcnemar(*pairs(3, 3)).p_value == 1.0
  assert sig.mcnemar(*pairs(13, 12)).method.startswith("chi-square")  # b + c = 25
  assert sig.mcnemar(*pairs(13, 12), exact=True).method == "exact binomial"
  with pytest.raises(ValueError, match="same users"):
    sig.mcnemar([True], [True, False])


def test_paired_t_closed_forms():
  # d = x - y = (1, 2, 3): t = 2 / (1 / sqrt 3); with 2 df, P(T <= t) = 1/2 + t / (2 sqrt(t^2 + 2)).
  t, p = sig.paired_t_test_one_sided([2, 4, 6], [1, 2, 3], alternative="greater")
  assert t == pytest.approx(math.sqrt(12))
  assert p == pytest.approx(0.5 - t / (2 * math.sqrt(t * t + 2)))
  # 1 df is Cauchy: P(T <= t) = 1/2 + atan(t) / pi.  d = (-1, -3): t = -2 / 1 = -2.
  t, p = sig.paired_t_test_one_sided([0, 0], [1, 3], alternative="less")
  assert t == pytest.approx(-2.0) and p == pytest.approx(0.5 + math.atan(-2.0) / math.pi)


def test_paired_t_edges():
  assert all(math.isnan(v) for v in sig.paired_t_test_one_sided([1], [2]))
  assert all(math.isnan(v) for v in sig.paired_t_test_one_sided([1, 2], [1, 2]))
  assert sig.paired_t_test_one_sided([1, 2], [2, 3]) == (-math.inf, 0.0)
  with pytest.raises(ValueError, match="alternative"):
    sig.paired_t_test_one_sided([1, 2], [2, 3], alternative="two-sided")


def test_paired_t_agrees_with_the_textbook_formula_on_random_data():
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=30), rng.normal(size=30) + 0.3
  d = x - y
  t_hand = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
  t, p_less = sig.paired_t_test_one_sided(x, y, alternative="less")
  _, p_greater = sig.paired_t_test_one_sided(x, y, alternative="greater")
  assert t == pytest.approx(t_hand)
  assert p_less + p_greater == pytest.approx(1.0)


def test_wilson_interval_by_hand():
  # 8 of 10 at 95%: z = 1.959964; centre (8 + z^2/2) / (10 + z^2), half-width
  # z sqrt(8 * 2 / 10 + z^2 / 4) / (10 + z^2).
  z = 1.959963984540054
  centre = (8 + z * z / 2) / (10 + z * z)
  half = z * math.sqrt(8 * 2 / 10 + z * z / 4) / (10 + z * z)
  low, high = sig.wilson_interval(8, 10)
  assert (low, high) == (pytest.approx(centre - half), pytest.approx(centre + half))
  assert sig.wilson_interval(0, 0) == (None, None)
  assert sig.wilson_interval(0, 5)[0] == 0.0 and sig.wilson_interval(5, 5)[1] == 1.0
