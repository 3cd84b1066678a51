"""Section 4.1 metrics of Wen et al. (Val, Len, PS, PN, F_NS) on hand-built records."""

import jax.numpy as jnp
import numpy as np
import pytest

from cfjax.evaluate.lcer_metrics import lcer_metrics, sufficiency_necessity
from cfjax.records import Explanation


def _rec(item, deleted, suff, nec):
  return Explanation(user=0, item=item, deleted_items=deleted, method="lcer",
                     extra={"sufficient": suff, "necessary": nec})


def test_metrics_by_hand():
  records = [_rec(1, (2, 3), True, True), _rec(4, (5,), False, True),
             _rec(6, (), False, False), _rec(7, (8, 9, 10), True, False)]
  m = lcer_metrics(records, num_pairs=5)
  assert m["validity"] == pytest.approx(3 / 5)
  assert m["length"] == pytest.approx(6 / 3)
  assert m["ps"] == pytest.approx(2 / 3) and m["pn"] == pytest.approx(2 / 3)
  assert m["f_ns"] == pytest.approx(2 / 3)
  assert (m["found"], m["pairs"]) == (3, 5)
  assert lcer_metrics(records, num_pairs=5, report_validity=False)["validity"] is None


def test_undefined_ratios_and_a_zero_harmonic_mean():
  nothing = lcer_metrics([_rec(1, (), False, False)], num_pairs=1)
  assert nothing == {"validity": 0.0, "length": None, "ps": None, "pn": None, "f_ns": None,
                     "found": 0, "pairs": 1}
  assert lcer_metrics([_rec(1, (2,), False, False)], num_pairs=1)["f_ns"] == 0.0


def test_bad_inputs_are_one_line_errors():
  records = [_rec(1, (2,), True, True), _rec(3, (4,), True, True)]
  with pytest.raises(ValueError, match="num_pairs"):
    lcer_metrics(records, num_pairs=1)
  with pytest.raises(ValueError, match="sufficient"):
    lcer_metrics([Explanation(0, 1, (2,), method="lcer")], num_pairs=1)
  with pytest.raises(ValueError, match="must agree"):
    sufficiency_necessity(lambda p, x: x, None, np.ones((2, 3)), np.zeros((2, 4), bool),
                          np.array([0, 1]), k=1)


def test_sufficiency_necessity_by_hand():
  # Scores: item 3 gets 1 per interaction with item 0; item 4 a constant 0.5.
  w = np.zeros((5, 5), np.float32)
  w[0, 3] = 1.0
  score = lambda params, x: x @ params + jnp.array([0, 0, 0, 0, 0.5])
  x = np.array([[1, 1, 0, 0, 0], [1, 1, 0, 0, 0]], np.float32)
  removed = np.array([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0]], bool)
  suff, nec = sufficiency_necessity(score, jnp.asarray(w), x, removed, np.array([3, 3]), k=1)
  # Pair 0: only item 0 kept -> 3 still first (sufficient); item 0 removed -> 3 drops (necessary).
  # Pair 1: only item 1 kept -> 3 scores 0 < 0.5 (not sufficient); item 1 removed -> still first.
  np.testing.assert_array_equal(suff, [True, False])
  np.testing.assert_array_equal(nec, [True, False])
