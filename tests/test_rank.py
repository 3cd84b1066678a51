"""Top-K lists and ranks over unseen items (Yao et al., eq. 2)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfjax import rank

SCORES = np.array([[0.5, 0.9, 0.9, 0.1, 0.9, 0.3],
                   [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]], dtype=np.float32)
SEEN = np.array([[False, False, True, False, False, False],
                 [False, False, False, False, True, True]])


def test_top_k_excludes_seen_and_breaks_ties_by_lower_index():
  np.testing.assert_array_equal(rank.top_k(SCORES, SEEN, 3), [[1, 4, 0], [3, 2, 1]])
  assert rank.top_k(SCORES, SEEN, 1).dtype == np.int32


def test_rank_of_is_consistent_with_top_k():
  order = rank.top_k(SCORES, SEEN, 4)
  for row in range(2):
    for position, item in enumerate(order[row]):
      assert rank.rank_of(SCORES[row], SEEN[row], item) == position + 1
  np.testing.assert_array_equal(rank.rank_of(SCORES, SEEN, [4, 0]), [2, 4])


def test_in_top_k():
  assert rank.in_top_k(SCORES[0], SEEN[0], 4, 2)
  assert not rank.in_top_k(SCORES[0], SEEN[0], 0, 2)
  np.testing.assert_array_equal(rank.in_top_k(SCORES, SEEN, [0, 3], 1), [False, True])


def test_jnp_versions_jit_and_vmap():
  top = jax.jit(rank.top_k_jnp, static_argnums=2)(jnp.asarray(SCORES), jnp.asarray(SEEN), 2)
  np.testing.assert_array_equal(top, [[1, 4], [3, 2]])
  ranks = jax.vmap(rank.rank_of_jnp)(jnp.asarray(SCORES), jnp.asarray(SEEN), jnp.array([1, 1]))
  np.testing.assert_array_equal(ranks, [1, 3])
  inside = jax.jit(rank.in_top_k_jnp, static_argnums=3)(SCORES, SEEN, jnp.array([0, 2]), 2)
  np.testing.assert_array_equal(inside, [False, True])


def test_all_ties_rank_by_index():
  scores, seen = np.zeros((1, 5), np.float32), np.array([[True, False, False, True, False]])
  np.testing.assert_array_equal(rank.top_k(scores, seen, 3), [[1, 2, 4]])
  assert rank.rank_of(scores[0], seen[0], 4) == 3


def test_top_k_errors():
  with pytest.raises(ValueError, match="number of items"):
    rank.top_k(SCORES, SEEN, 7)
  with pytest.raises(ValueError, match="unseen items"):
    rank.top_k(SCORES, SEEN, 5)
  with pytest.raises(ValueError, match="number of items"):
    rank.top_k_jnp(jnp.asarray(SCORES), jnp.asarray(SEEN), 7)


def test_rank_of_errors():
  with pytest.raises(ValueError, match="seen by its user"):
    rank.rank_of(SCORES[0], SEEN[0], 2)
  with pytest.raises(ValueError, match="must lie in"):
    rank.rank_of(SCORES[0], SEEN[0], 6)
  with pytest.raises(ValueError, match="one shape"):
    rank.rank_of(SCORES, SEEN[0], 0)
  with pytest.raises(ValueError, match="NaN"):
    rank.top_k(np.full((1, 3), np.nan), np.zeros((1, 3), bool), 1)
