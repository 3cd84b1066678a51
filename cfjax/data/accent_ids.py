"""Recovering the MovieLens-100K ids behind ACCENT's re-indexed `movielens_train.tsv`.

ACCENT's NCF file uses its own dense ids: users 0..451 and items 0..1599. Both are the rank of the
original ML-100K id among the ids that survive ACCENT's filtering (the maps are strictly
increasing), and the file holds a subset (the training part) of each kept user's u.data rows with
their original ratings and timestamps. So the maps can be recovered exactly from u.data:

1. each ACCENT user is the ML-100K user sharing the most (rating, timestamp) pairs with it;
2. each ACCENT item's candidates are the ML-100K items that match *every* one of its rows on
   (user, rating, timestamp); the few items with several candidates (same-second ratings) are
   resolved by the strictly increasing order of the map.

The result is verified (every row found in u.data, both maps strictly increasing and one-to-one);
if the check fails, `None` is returned instead of a guess.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _resolve_monotone(candidates: list[list[int]], max_rounds: int = 20) -> list[list[int]]:
  """Narrows each candidate list to values strictly between its resolved neighbours."""
  big = np.iinfo(np.int64).max
  for _ in range(max_rounds):
    known = np.array([c[0] if len(c) == 1 else -1 for c in candidates], dtype=np.int64)
    below = np.maximum.accumulate(known)  # largest resolved value at or before k
    above = np.minimum.accumulate(np.where(known >= 0, known, big)[::-1])[::-1]
    changed = False
    for k, c in enumerate(candidates):
      if len(c) > 1:
        lo = below[k - 1] if k > 0 else -1
        hi = above[k + 1] if k + 1 < len(candidates) else big
        narrowed = [v for v in c if lo < v < hi]
        changed |= len(narrowed) != len(c)
        candidates[k] = narrowed
    if not changed:
      break
  return candidates


def match_accent_to_ml100k(accent: dict[str, np.ndarray],
                           ml: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
  """Maps ACCENT's user and item ids back to raw ML-100K ids.

  Args:
    accent: columns user, item, rating, timestamp of `movielens_train.tsv`.
    ml: columns user, item, rating, timestamp of ML-100K `u.data`.

  Returns:
    (user_map, item_map): int64 arrays indexed by ACCENT id (0..max id) giving the ML-100K id,
    or None when the ids are not dense or the recovered maps fail verification.
  """
  cols = ("user", "item", "rating", "timestamp")
  a = pd.DataFrame({c: accent[c] for c in cols})
  u = pd.DataFrame({c: ml[c] for c in cols})
  num_users, num_items = int(a.user.max()) + 1, int(a.item.max()) + 1
  if a.user.nunique() != num_users or a.item.nunique() != num_items or a.user.min() < 0:
    return None
  a["row"] = np.arange(len(a))
  pairs = a.merge(u, on=["rating", "timestamp"], suffixes=("", "_ml"))
  votes = pairs.groupby(["user", "user_ml"]).size().reset_index(name="n")
  user_map = votes.sort_values(["n", "user_ml"]).groupby("user").tail(1).set_index("user").user_ml
  if len(user_map) != num_users:
    return None
  user_map = user_map.sort_index().to_numpy(dtype=np.int64)
  same_user = pairs[pairs.user_ml.to_numpy() == user_map[pairs.user.to_numpy()]]
  support = same_user.drop_duplicates(["row", "item_ml"]).groupby(["item", "item_ml"]).size()
  support = support.reset_index(name="n")
  rows_per_item = a.groupby("item").size().to_numpy()
  support = support[support.n.to_numpy() == rows_per_item[support.item.to_numpy()]]
  candidates = [[] for _ in range(num_items)]
  for item, item_ml in zip(support.item.to_numpy(), support.item_ml.to_numpy()):
    candidates[int(item)].append(int(item_ml))
  candidates = _resolve_monotone([sorted(c) for c in candidates])
  if any(len(c) != 1 for c in candidates):
    return None
  item_map = np.array([c[0] for c in candidates], dtype=np.int64)
  if not (np.all(np.diff(user_map) > 0) and np.all(np.diff(item_map) > 0)):
    return None
  mapped = pd.DataFrame({"user": user_map[a.user.to_numpy()], "item": item_map[a.item.to_numpy()],
                         "rating": a.rating.to_numpy(), "timestamp": a.timestamp.to_numpy()})
  found = mapped.merge(u.drop_duplicates(), on=list(cols), how="inner")
  if len(found) != len(a):
    return None
  return user_map, item_map
