"""The Mult-VAE data preparation (Liang et al. 2018, reference notebook; Wen et al., section 4.1).

Steps, in order:
  1. keep ratings > 3.5 as implicit positives, drop users with < 5 positives
     (`lcer_positives`): Wen et al., Table 1 counts are taken here;
  2. permute the users with a seeded generator; the last 2 * n_heldout users are split into
     validation (first n_heldout of them) and test (last n_heldout) users, the rest are training
     users (100 each on ML-100K, 500 on ML-1M, 2,000 on Epinions: Wen et al., footnote 8);
  3. keep only the items some training user interacted with (the notebook's `unique_sid`),
     drop the validation/test rows of other items, and renumber the kept items densely;
  4. split each validation/test user's rows 80/20 into fold-in and held-out at random (users
     with fewer than 5 rows keep all of them as fold-in), as the notebook does.

Everything runs on the host with numpy; the outputs are dense float32 binary matrices.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from cfjax.data.interactions import Interactions
from cfjax.data.transforms import binarize, filter_min_interactions

# Validation users and, again, test users per dataset (Wen et al., footnote 8).
HELDOUT_USERS = {"movielens-100k": 100, "ml-1m": 500, "movielens-1m": 500, "epinions": 2000}
LCER_KEEP_ABOVE = 3.5
LCER_MIN_USER = 5


@dataclasses.dataclass(frozen=True)
class VaeSplit:
  """Dense binary matrices for Mult-VAE training and evaluation.

  Attributes:
    train: float32[U_train, I] rows of the training users.
    val_tr, val_te: float32[n_heldout, I] fold-in / held-out rows of the validation users.
    test_tr, test_te: float32[n_heldout, I] fold-in / held-out rows of the test users.
    train_users, val_users, test_users: int64 user ids of the filtered dataset (step 1).
    item_ids: int64[I] item id (of the filtered dataset) of each kept column.
    item_titles: titles of the kept columns, or None.
    counts: the sizes after each step, e.g. {"users", "items", "interactions"} after step 1
      (Wen et al., Table 1) and {"kept_items", "kept_interactions"} after step 3.
  """

  train: np.ndarray
  val_tr: np.ndarray
  val_te: np.ndarray
  test_tr: np.ndarray
  test_te: np.ndarray
  train_users: np.ndarray
  val_users: np.ndarray
  test_users: np.ndarray
  item_ids: np.ndarray
  item_titles: tuple[str, ...] | None
  counts: dict

  @property
  def num_items(self) -> int:
    return self.train.shape[1]


def lcer_positives(data: Interactions, *, keep_above: float | None = LCER_KEEP_ABOVE,
                   min_user: int = LCER_MIN_USER) -> Interactions:
  """Wen et al.'s (LCER) preprocessing, section 4.1: ratings > 3.5 are the implicit positives,
  then users with fewer than 5 positives are removed (one pass; items are not filtered, but
  items left without positives leave the id space). Table 1's counts are taken here:

    ML-100K   938 users,   1,447 items,  55,361 interactions (Table 1: the same)
    ML-1M     6,034 users,   3,533 items, 575,272 interactions (Table 1: 6,034 / 3,502 /
              575,235, counted after `make_vae_split`'s item restriction; docs/lcer.md)
    Epinions 20,634 users, 115,798 items, 460,451 interactions (Table 1: the same)

  Args:
    data: raw ratings, or implicit ones with keep_above=None.
    keep_above: ratings strictly above are positives (3.5); None keeps every row.
    min_user: the fewest positives a kept user has (5).

  Returns:
    The positives (rating 1.0), users and items renumbered densely in their old order, raw
    ids kept (and side data such as `SocialInteractions.trust_raw`).
  """
  if keep_above is not None:
    data = binarize(data, keep_above=keep_above)
  return filter_min_interactions(data, min_user=min_user)


def _rows(data: Interactions, users: np.ndarray, column: np.ndarray) -> np.ndarray:
  """float32[len(users), I'] binary matrix of the given users over the kept columns."""
  position = np.full(data.num_users, -1, np.int64)
  position[users] = np.arange(len(users))
  keep = (position[data.user] >= 0) & (column[data.item] >= 0)
  out = np.zeros((len(users), int(column.max()) + 1), np.float32)
  out[position[data.user[keep]], column[data.item[keep]]] = 1.0
  return out


def _fold_in_split(rows: np.ndarray, test_prop: float, rng: np.random.Generator):
  tr, te = rows.copy(), np.zeros_like(rows)
  for u in range(rows.shape[0]):
    items = np.flatnonzero(rows[u])
    if len(items) >= 5:
      out = rng.choice(len(items), size=int(test_prop * len(items)), replace=False)
      tr[u, items[out]] = 0.0
      te[u, items[out]] = 1.0
  return tr, te


def make_vae_split(data: Interactions, *, n_heldout_users: int, seed: int = 98765,
                   keep_above: float | None = 3.5, min_user: int = 5, test_prop: float = 0.2,
                   restrict_items: bool = True) -> VaeSplit:
  """Prepares the Mult-VAE train / validation / test matrices (see the module docstring).

  Args:
    data: raw interactions (ratings), or implicit ones with keep_above=None.
    n_heldout_users: validation users and, again, test users (100 on ML-100K, 500 on ML-1M).
    seed: seed of the user permutation and of the fold-in split.
    keep_above: ratings strictly above are positives (3.5); None keeps every row.
    min_user: minimum positives per kept user (5).
    test_prop: held-out fraction of each validation/test user's rows (0.2).
    restrict_items: keep only the items the training users interacted with (the notebook).

  Returns:
    A `VaeSplit`.

  Raises:
    ValueError: if there are not more than 2 * n_heldout_users users or test_prop is not in
      (0, 1).
  """
  if not 0.0 < test_prop < 1.0:
    raise ValueError(f"test_prop={test_prop} must lie strictly between 0 and 1, e.g. 0.2")
  data = lcer_positives(data, keep_above=keep_above, min_user=min_user)
  counts = {"users": data.num_users, "items": data.num_items, "interactions": len(data)}
  if not 0 < 2 * n_heldout_users < data.num_users:
    raise ValueError(f"n_heldout_users={n_heldout_users} leaves no training users out of "
                     f"{data.num_users}; use fewer held-out users")
  rng = np.random.default_rng(seed)
  order = rng.permutation(data.num_users)
  n_train = data.num_users - 2 * n_heldout_users
  train_users = order[:n_train]
  val_users = order[n_train:n_train + n_heldout_users]
  test_users = order[n_train + n_heldout_users:]
  is_train = np.zeros(data.num_users, bool)
  is_train[train_users] = True
  if restrict_items:
    kept = np.unique(data.item[is_train[data.user]])
  else:
    kept = np.arange(data.num_items)
  column = np.full(data.num_items, -1, np.int64)
  column[kept] = np.arange(len(kept))
  train = _rows(data, train_users, column)
  val = _rows(data, val_users, column)
  test = _rows(data, test_users, column)
  val_tr, val_te = _fold_in_split(val, test_prop, rng)
  test_tr, test_te = _fold_in_split(test, test_prop, rng)
  counts.update(kept_items=len(kept),
                kept_interactions=int(train.sum() + val.sum() + test.sum()),
                train_users=n_train, heldout_users=n_heldout_users,
                test_fold_in=int(test_tr.sum()), test_held_out=int(test_te.sum()))
  titles = None
  if data.item_titles is not None:
    titles = tuple(data.item_titles[i] for i in kept)
  return VaeSplit(train=train, val_tr=val_tr, val_te=val_te, test_tr=test_tr, test_te=test_te,
                  train_users=train_users, val_users=val_users, test_users=test_users,
                  item_ids=kept.astype(np.int64), item_titles=titles, counts=counts)
