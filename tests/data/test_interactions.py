"""Interactions' indexes, padding, dense construction and user sampling."""

import numpy as np
import pytest

from cfjax.data import Interactions, padded_histories, sample_users


def small():
  # user 0: items 2, 0; user 1: items 1, 2, 3; user 2: item 0.
  return Interactions(user=np.array([0, 1, 0, 1, 2, 1], np.int32),
                      item=np.array([2, 1, 0, 2, 0, 3], np.int32),
                      rating=np.arange(1, 7, dtype=np.float32), num_users=3, num_items=5)


def test_item_rows_are_every_row_of_an_item_in_file_order():
  d = small()
  np.testing.assert_array_equal(d.item_rows(0), [2, 4])
  np.testing.assert_array_equal(d.item_rows(2), [0, 3])
  assert d.item_rows(4).size == 0


def test_padded_histories_pad_with_minus_one_to_a_multiple_of_32():
  rows, items = padded_histories(small(), [1, 2])
  assert rows.shape == items.shape == (2, 32)
  np.testing.assert_array_equal(rows[0, :3], [1, 3, 5])
  np.testing.assert_array_equal(items[0, :3], [1, 2, 3])
  np.testing.assert_array_equal(items[1, :2], [0, -1])
  assert (rows[0, 3:] == -1).all()
  with pytest.raises(ValueError, match="more than the pad width 2"):
    padded_histories(small(), [1], width=2)


def test_from_dense_keeps_values_and_row_major_order():
  dense = np.array([[0, 1, 0], [2, 0, 3]], np.float32)
  d = Interactions.from_dense(dense, name="x")
  np.testing.assert_array_equal(d.user, [0, 1, 1])
  np.testing.assert_array_equal(d.item, [1, 0, 2])
  np.testing.assert_array_equal(d.rating, [1, 2, 3])
  assert (d.num_users, d.num_items, d.name) == (2, 3, "x")
  np.testing.assert_array_equal(d.seen_matrix(), dense > 0)


def test_sample_users_respects_history_exclusion_and_seed():
  d = small()
  assert sample_users(d, 2, min_history=2, seed=0).tolist() == [0, 1]
  assert sample_users(d, 1, min_history=2, seed=0, exclude=[0]).tolist() == [1]
  first = sample_users(d, 2, min_history=1, seed=(3, 4))
  np.testing.assert_array_equal(first, sample_users(d, 2, min_history=1, seed=(3, 4)))
  with pytest.raises(ValueError, match="only 1 users have >= 3 training rows"):
    sample_users(d, 2, min_history=3, seed=0)
