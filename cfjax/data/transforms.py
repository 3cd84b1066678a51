"""Pure transforms of `Interactions`: splits, filtering, binarization and a content checksum.

Every function returns new records and never modifies its input. Rows keep their relative file
order in every output.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import numbers

import numpy as np

from cfjax.data.interactions import Interactions


def _check(ok: bool, message: str) -> None:
  if not ok:
    raise ValueError(message)


def _split(data: Interactions, test_mask: np.ndarray) -> tuple[Interactions, Interactions]:
  rows = np.arange(len(data))
  return data.select(rows[~test_mask]), data.select(rows[test_mask])


def random_split(data: Interactions, *, train_fraction: float = 0.7,
                 seed: int) -> tuple[Interactions, Interactions]:
  """Splits the rows uniformly at random (e.g. the 70/30 split of Yao et al.).

  Exactly round(train_fraction * N) rows go to train; the rest to test. Both parts keep the
  id spaces (num_users, num_items, raw ids, titles) and the file order of their rows.

  Args:
    data: the interactions.
    train_fraction: fraction of rows for training, in (0, 1).
    seed: integer seed; the same seed gives the same split.

  Returns:
    (train, test).

  Raises:
    ValueError: if train_fraction is outside (0, 1) or leaves one part empty.
  """
  _check(isinstance(train_fraction, numbers.Real) and 0.0 < train_fraction < 1.0,
         f"train_fraction={train_fraction!r} must lie strictly between 0 and 1, e.g. 0.7")
  n = len(data)
  n_train = int(round(train_fraction * n))
  _check(0 < n_train < n, f"train_fraction={train_fraction} of {n} rows leaves an empty train or "
         "test part; use a fraction closer to 0.5 or more data")
  order = np.random.default_rng(seed).permutation(n)
  test_mask = np.ones(n, dtype=bool)
  test_mask[order[:n_train]] = False
  return _split(data, test_mask)


def per_user_holdout(data: Interactions, *, holdout: int | float = 1, seed: int | None = None,
                     by_time: bool = False) -> tuple[Interactions, Interactions]:
  """Holds out part of every user's history as test (leave-k-out).

  Args:
    data: the interactions. Users without interactions are ignored.
    holdout: an int k >= 1 holds out k rows per user; a float f in (0, 1) holds out
      round(f * n_u) rows of a user with n_u rows, clipped to [1, n_u - 1].
    seed: integer seed choosing the held-out rows at random; required unless by_time.
    by_time: hold out each user's latest rows by timestamp (ties: later file row is later).

  Returns:
    (train, test), id spaces unchanged; every user with interactions keeps >= 1 train row.

  Raises:
    ValueError: bad holdout, a user with too few interactions, no seed, or no timestamps.
  """
  counts = np.bincount(data.user, minlength=data.num_users)
  active = counts > 0
  if isinstance(holdout, numbers.Integral) and not isinstance(holdout, bool):
    _check(holdout >= 1, f"holdout={holdout} must be >= 1 (rows per user) or a fraction in (0, 1)")
    n_test = np.where(active, int(holdout), 0)
    short = int(np.sum(active & (counts <= holdout)))
    _check(short == 0, f"holdout={holdout} needs every user to have at least {holdout + 1} "
           f"interactions, but {short} users have fewer; use filter_min_interactions(data, "
           f"min_user={holdout + 1}) first or a smaller holdout")
  elif isinstance(holdout, numbers.Real) and not isinstance(holdout, bool):
    _check(0.0 < holdout < 1.0, f"holdout={holdout} as a fraction must lie strictly between 0 and "
           "1; pass an int for a fixed number of rows per user")
    short = int(np.sum(active & (counts < 2)))
    _check(short == 0, f"holdout={holdout} needs every user to have at least 2 interactions, but "
           f"{short} users have 1; use filter_min_interactions(data, min_user=2) first")
    n_test = np.where(active, np.clip(np.round(holdout * counts), 1, counts - 1), 0)
  else:
    raise ValueError(f"holdout={holdout!r} must be an int >= 1 or a float in (0, 1)")
  rows = np.arange(len(data))
  if by_time:
    _check(data.timestamp is not None, f"by_time=True needs timestamps, but {data.name} has none; "
           "use by_time=False with a seed")
    key = -rows.astype(np.float64)  # secondary: later rows first
    order = np.lexsort((key, -data.timestamp.astype(np.int64), data.user))
  else:
    _check(seed is not None, "per_user_holdout(by_time=False) needs an integer seed=...")
    key = np.random.default_rng(seed).random(len(data))
    order = np.lexsort((key, data.user))
  offsets = np.concatenate([[0], np.cumsum(counts)])
  rank = np.empty(len(data), dtype=np.int64)
  rank[order] = np.arange(len(data)) - offsets[data.user[order]]
  return _split(data, rank < n_test[data.user])


def _reindex(data: Interactions, rows: np.ndarray, keep_users: np.ndarray,
             keep_items: np.ndarray) -> Interactions:
  """Selects rows and renumbers the kept users/items densely (relative order kept)."""
  if data.columns:
    raise ValueError(f"re-numbering users and items cannot carry the extra row columns "
                     f"{sorted(data.columns)} (they may hold ids); filter the data before "
                     "adding columns")
  user_new = np.cumsum(keep_users) - 1
  item_new = np.cumsum(keep_items) - 1
  titles = data.item_titles
  return dataclasses.replace(
      data,
      user=user_new[data.user[rows]].astype(np.int32),
      item=item_new[data.item[rows]].astype(np.int32),
      rating=data.rating[rows],
      timestamp=None if data.timestamp is None else data.timestamp[rows],
      num_users=int(keep_users.sum()), num_items=int(keep_items.sum()),
      user_ids=None if data.user_ids is None else np.asarray(data.user_ids)[keep_users],
      item_ids=None if data.item_ids is None else np.asarray(data.item_ids)[keep_items],
      item_titles=None if titles is None else tuple(t for t, k in zip(titles, keep_items) if k))


def filter_min_interactions(data: Interactions, *, min_user: int = 1,
                            min_item: int = 0) -> Interactions:
  """Keeps users with >= min_user and items with >= min_item interactions, then re-indexes.

  The two conditions are applied repeatedly until both hold (a k-core style filter). Users and
  items left without interactions are dropped from the id spaces; the kept ones are renumbered
  densely in their old order, with `user_ids`, `item_ids` and `item_titles` kept aligned.

  Args:
    data: the interactions.
    min_user: minimum interactions per kept user (>= 0).
    min_item: minimum interactions per kept item (>= 0).

  Returns:
    The filtered, re-indexed interactions.

  Raises:
    ValueError: negative thresholds, or no interaction survives the filter.
  """
  for arg, value in (("min_user", min_user), ("min_item", min_item)):
    _check(isinstance(value, numbers.Integral) and value >= 0,
           f"{arg}={value!r} must be a non-negative int")
  keep = np.ones(len(data), dtype=bool)
  while True:
    user_counts = np.bincount(data.user[keep], minlength=data.num_users)
    item_counts = np.bincount(data.item[keep], minlength=data.num_items)
    new_keep = keep & (user_counts[data.user] >= min_user) & (item_counts[data.item] >= min_item)
    if np.array_equal(new_keep, keep):
      break
    keep = new_keep
  _check(keep.any(), f"filter_min_interactions(min_user={min_user}, min_item={min_item}) removes "
         f"every row of {data.name}; lower the thresholds")
  return _reindex(data, np.flatnonzero(keep), user_counts > 0, item_counts > 0)


def binarize(data: Interactions, *, keep_above: float) -> Interactions:
  """Turns ratings into implicit positives: rows with rating > keep_above get rating 1.0.

  Rows with rating <= keep_above are dropped. The id spaces are unchanged (a user may be left
  without rows; chain `filter_min_interactions` to drop them). Example: ACCENT's "positive if
  rating >= 3" on integer ratings is keep_above=2.5 (or 2).

  Args:
    data: the interactions.
    keep_above: a finite threshold; strictly greater ratings are kept.

  Returns:
    The positive rows, rating 1.0 (float32).

  Raises:
    ValueError: if keep_above is not a finite number.
  """
  _check(isinstance(keep_above, numbers.Real) and not isinstance(keep_above, bool)
         and math.isfinite(keep_above), f"keep_above={keep_above!r} must be a finite number")
  selected = data.select(np.flatnonzero(data.rating > keep_above))
  return dataclasses.replace(selected, rating=np.ones(len(selected), dtype=np.float32))


def data_checksum(data: Interactions) -> str:
  """SHA-256 (hex) of the interaction arrays, for recording which data a run used.

  Covers num_users, num_items and the user (int32), item (int32), rating (float32) and timestamp
  (int64, or its absence) arrays in row order, little-endian, then any extra row columns by
  name. Names, raw ids and titles are not included.
  """
  h = hashlib.sha256(b"cfjax-interactions-v1")
  h.update(np.asarray([data.num_users, data.num_items, len(data)], dtype="<i8").tobytes())
  for array, dtype in ((data.user, "<i4"), (data.item, "<i4"), (data.rating, "<f4")):
    h.update(np.ascontiguousarray(array, dtype=dtype).tobytes())
  if data.timestamp is None:
    h.update(b"no-timestamp")
  else:
    h.update(np.ascontiguousarray(data.timestamp, dtype="<i8").tobytes())
  for name in sorted(data.columns):  # extra row columns (none: the v1 digest, unchanged)
    values = np.asarray(data.columns[name])
    h.update(f"column:{name}:{values.dtype.str}".encode())
    h.update(np.ascontiguousarray(values).tobytes())
  return h.hexdigest()


def sample_users(data: Interactions, num_users: int, *, min_history: int,
                 seed: int | tuple[int, ...], exclude=()) -> np.ndarray:
  """`num_users` distinct users, sorted, drawn uniformly from those with >= min_history rows
  and not in `exclude` (e.g. a surrogate's training users).

  Args:
    data: the interactions.
    num_users: how many users to draw.
    min_history: the fewest training rows a drawn user may have.
    seed: numpy's entropy: an int or a tuple of ints.
    exclude: user ids that may not be drawn.

  Raises:
    ValueError: if fewer users are eligible than asked for.
  """
  _check(isinstance(num_users, numbers.Integral) and not isinstance(num_users, bool)
         and num_users >= 1, f"num_users={num_users!r} must be a positive integer")
  eligible = np.setdiff1d(np.flatnonzero(data.user_counts >= min_history),
                          np.asarray(exclude, dtype=np.int64))
  if len(eligible) < num_users:
    raise ValueError(f"only {len(eligible)} users have >= {min_history} training rows"
                     + (" outside the excluded ones" if len(exclude) else "")
                     + f", fewer than the {num_users} asked for; ask for fewer users")
  rng = np.random.default_rng(list(seed) if isinstance(seed, (tuple, list)) else seed)
  return np.sort(rng.choice(eligible, num_users, replace=False))
