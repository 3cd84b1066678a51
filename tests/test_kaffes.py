"""KaffesCE and the FIA/ACCENT-for-VAE baselines on brute-forceable linear scorers."""

import itertools

import jax.numpy as jnp
import numpy as np

from cfjax.explain.kaffes import kaffes_explain
from cfjax.explain.lcer_baselines import accent_select, fia_select, leave_one_out_scores
from cfjax.rank import rank_of

ITEMS = 8


def linear_score(params, x):
  return x @ params


def _out_of_top_k(w, x, removed, item, k):
  row = x.copy()
  row[list(removed)] = 0
  return rank_of(row @ w, row > 0, item) > k


def test_kaffes_returns_valid_set_within_bound():
  rng = np.random.default_rng(1)
  for trial in range(3):
    w = rng.normal(size=(ITEMS, ITEMS)).astype(np.float32)
    x = np.zeros(ITEMS, np.float32)
    x[:5] = 1
    scores = x @ w
    item = int(np.argmax(np.where(x > 0, -np.inf, scores)))
    k = 1
    hist = list(range(5))
    minimal = next((s for r in range(1, 6) for s in itertools.combinations(hist, r)
                    if _out_of_top_k(w, x, s, item, k)), None)
    found, info = kaffes_explain(linear_score, jnp.asarray(w), x, item, k, max_expansions=10)
    if found:
      assert _out_of_top_k(w, x, found, item, k)
      assert len(found) <= info["expansions"] <= 10
      assert minimal is not None and len(found) >= len(minimal)
      if len(minimal) == 1:
        assert len(found) == 1
    else:
      assert minimal is None or info["expansions"] == 10 or len(minimal) > 1


def test_fia_and_accent_on_a_known_case():
  w = np.zeros((5, 5), np.float32)
  w[:3, 3] = [1.0, 0.2, 0.1]  # item 3 relies mostly on item 0
  w[:3, 4] = [0.0, 0.0, 0.6]  # item 4 (the replacement) relies on item 2
  x = np.array([1, 1, 1, 0, 0], np.float32)
  hist, scores = leave_one_out_scores(linear_score, jnp.asarray(w), x)
  assert fia_select(hist, scores, 3) == (0,)
  # gap 1.3 - 0.6 = 0.7; gap influences: item0 1.0, item1 0.2, item2 0.1 - 0.6 = -0.5.
  assert accent_select(hist, scores, 3, 4) == (0,)
