"""The `Interactions` record: a dataset of (user, item, rating[, timestamp]) rows on the host."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np


class DuplicateRowsError(ValueError):
  """Two rows of an `Interactions` hold the same (user, item) pair.

  Attributes:
    rows: (first row, a later row) of the first repeated pair.
  """

  def __init__(self, message: str, rows: tuple[int, int]):
    super().__init__(message)
    self.rows = rows


def duplicate_rows(user: np.ndarray, item: np.ndarray) -> tuple[int, int] | None:
  """(first row, a later row) of the first (user, item) pair that appears twice, or None."""
  key = np.asarray(user, np.int64) * (int(np.max(item, initial=0)) + 1) + np.asarray(item,
                                                                                     np.int64)
  order = np.argsort(key, kind="stable")
  repeated = np.flatnonzero(key[order][1:] == key[order][:-1])
  if not repeated.size:
    return None
  pairs = np.stack([order[repeated], order[repeated + 1]], axis=1)
  first, second = pairs[np.argmin(pairs[:, 1])]
  return int(first), int(second)


@dataclasses.dataclass(frozen=True, eq=False)
class Interactions:
  """User-item interactions with dense 0-based ids, held as host numpy arrays.

  Attributes:
    user: int32[N] dense user index in [0, num_users).
    item: int32[N] dense item index in [0, num_items).
    rating: float32[N] rating (or 1.0 for implicit feedback).
    num_users: size of the user id space (U).
    num_items: size of the item id space (I).
    timestamp: optional int64[N] Unix timestamps.
    user_ids: optional [U] original (raw) user ids, indexed by dense id.
    item_ids: optional [I] original (raw) item ids, indexed by dense id.
    item_titles: optional [I] titles, indexed by dense id.
    name: dataset name, e.g. "movielens-100k".
    columns: more per-row columns {name: [N]} that travel with the rows (selection, splits)
      into training (`TrainData.extra`), e.g. {"negative": int[N]} for (user, positive,
      negative) triples; a model names the ones its loss reads in `row_columns`.
  """

  user: np.ndarray
  item: np.ndarray
  rating: np.ndarray
  num_users: int
  num_items: int
  timestamp: np.ndarray | None = None
  user_ids: np.ndarray | None = None
  item_ids: np.ndarray | None = None
  item_titles: tuple[str, ...] | None = None
  name: str = "interactions"
  columns: dict = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    n = len(self.user)
    for column, values in self.columns.items():
      if np.shape(values) != (n,):
        raise ValueError(f"Interactions column {column!r} has shape {np.shape(values)}; it "
                         f"needs one value per row, shape ({n},)")
    for field in ("item", "rating") + (("timestamp",) if self.timestamp is not None else ()):
      if len(getattr(self, field)) != n:
        raise ValueError(f"Interactions.{field} has {len(getattr(self, field))} rows, user has {n}")
    if n and (self.user.min() < 0 or self.user.max() >= self.num_users):
      raise ValueError(f"user ids must lie in [0, {self.num_users}); re-index the users densely")
    if n and (self.item.min() < 0 or self.item.max() >= self.num_items):
      raise ValueError(f"item ids must lie in [0, {self.num_items}); re-index the items densely")
    if n and not np.isfinite(self.rating).all():
      row = int(np.argmax(~np.isfinite(self.rating)))
      raise ValueError(f"rating of row {row} is {self.rating[row]}; ratings must be finite "
                       "numbers (drop or fill that row)")
    duplicate = duplicate_rows(self.user, self.item)
    if duplicate is not None:
      first, second = duplicate
      raise DuplicateRowsError(
          f"rows {first} and {second} both hold user {self.user[first]} and item "
          f"{self.item[first]}; each (user, item) pair may appear once (a deletion removes one "
          "row): delete or aggregate the duplicates", duplicate)

  @classmethod
  def from_dense(cls, rows, *, name: str = "interactions",
                 item_ids: np.ndarray | None = None,
                 item_titles: tuple[str, ...] | None = None) -> "Interactions":
    """Interactions of a dense [U, I] matrix: one row per non-zero entry (rating = the value),
    in row-major order; user u is row u. E.g. Mult-VAE's fold-in rows."""
    rows = np.asarray(rows)
    if rows.ndim != 2:
      raise ValueError(f"a dense interaction matrix is [U, I]; got shape {rows.shape}")
    user, item = np.nonzero(rows)
    return cls(user=user.astype(np.int32), item=item.astype(np.int32),
               rating=rows[user, item].astype(np.float32), num_users=rows.shape[0],
               num_items=rows.shape[1], item_ids=item_ids, item_titles=item_titles, name=name)

  @classmethod
  def from_pandas(cls, frame, *, user: str, item: str, rating: str | None = None,
                  timestamp: str | None = None, title: str | None = None,
                  columns=(), name: str = "interactions") -> "Interactions":
    """Interactions of a pandas DataFrame with raw ids of any hashable type; without a rating
    column, implicit feedback (rating 1.0). See `cfjax.data.frames.from_pandas`."""
    from cfjax.data.frames import from_pandas
    return from_pandas(frame, user=user, item=item, rating=rating, timestamp=timestamp,
                       title=title, columns=columns, name=name)

  @functools.cached_property
  def _raw_index(self) -> tuple[dict, dict]:
    """({raw user id: dense id}, {raw item id: dense id})."""
    to_dense = lambda ids: {} if ids is None else {_plain(raw): d for d, raw in enumerate(ids)}
    return to_dense(self.user_ids), to_dense(self.item_ids)

  def _dense(self, raw, which: int, what: str, size: int) -> int:
    ids = self.user_ids if which == 0 else self.item_ids
    if ids is None:
      if isinstance(raw, (int, np.integer)) and not isinstance(raw, bool) and 0 <= raw < size:
        return int(raw)
      raise ValueError(f"{what} {raw!r} is not a dense id in [0, {size}) and the data have no "
                       f"raw {what} ids; pass a dense id")
    index = self._raw_index[which]
    key = _plain(raw)
    if key not in index:
      example = _plain(ids[0])
      raise ValueError(f"{what} {raw!r} is not in {self.name}; pass a raw {what} id as in the "
                       f"data (e.g. {example!r}, of type {type(example).__name__})")
    return index[key]

  def user_index(self, raw) -> int:
    """The dense id of raw user id `raw` (one-line ValueError if unknown)."""
    return self._dense(raw, 0, "user", self.num_users)

  def item_index(self, raw) -> int:
    """The dense id of raw item id `raw` (one-line ValueError if unknown)."""
    return self._dense(raw, 1, "item", self.num_items)

  def raw_user(self, user: int):
    """The raw id of dense user `user` (the dense id itself when the data have none)."""
    return int(user) if self.user_ids is None else _plain(self.user_ids[int(user)])

  def raw_item(self, item: int):
    """The raw id of dense item `item` (the dense id itself when the data have none)."""
    return int(item) if self.item_ids is None else _plain(self.item_ids[int(item)])

  def item_title(self, item: int) -> str | None:
    """The title of dense item `item`, or None when unknown (no titles, or an empty one)."""
    if self.item_titles is None:
      return None
    return self.item_titles[int(item)] or None

  @property
  def implicit(self) -> bool:
    """Whether every rating is 1.0 (implicit feedback)."""
    return bool(np.all(self.rating == 1.0))

  @property
  def num_interactions(self) -> int:
    return len(self.user)

  def __len__(self) -> int:
    return len(self.user)

  @functools.cached_property
  def _user_index(self) -> tuple[np.ndarray, np.ndarray]:
    """CSR index: rows sorted by user (stable, so file order is kept), and offsets [U + 1]."""
    order = np.argsort(self.user, kind="stable").astype(np.int64)
    counts = np.bincount(self.user, minlength=self.num_users)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return order, offsets

  @property
  def user_counts(self) -> np.ndarray:
    """int64[U]: number of interactions of each user."""
    order, offsets = self._user_index
    return np.diff(offsets)

  @property
  def item_counts(self) -> np.ndarray:
    """int64[I]: number of interactions of each item."""
    return np.bincount(self.item, minlength=self.num_items)

  def history_rows(self, user: int) -> np.ndarray:
    """Row indices (into this record's arrays) of one user's interactions, in file order."""
    order, offsets = self._user_index
    return order[offsets[user]:offsets[user + 1]]

  @functools.cached_property
  def _item_index(self) -> tuple[np.ndarray, np.ndarray]:
    """CSR index by item: rows sorted by item (stable), and offsets [I + 1]."""
    order = np.argsort(self.item, kind="stable").astype(np.int64)
    counts = np.bincount(self.item, minlength=self.num_items)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return order, offsets

  def item_rows(self, item: int) -> np.ndarray:
    """Row indices of every interaction with `item`, in file order."""
    order, offsets = self._item_index
    return order[offsets[item]:offsets[item + 1]]

  def history_items(self, user: int) -> np.ndarray:
    """Item ids of one user's interactions, in file order."""
    return self.item[self.history_rows(user)]

  def rows_of(self, user: int, items) -> np.ndarray:
    """Row indices of (user, item) interactions for the given items.

    Raises:
      ValueError: if the user has no interaction with one of the items.
    """
    rows = self.history_rows(user)
    position = {int(i): int(r) for i, r in zip(self.item[rows], rows)}
    missing = [int(i) for i in items if int(i) not in position]
    if missing:
      raise ValueError(f"user {user} has no training interaction with items {missing}; "
                       "a deletion must name items from the user's own training history")
    return np.asarray([position[int(i)] for i in items], dtype=np.int64)

  def select(self, rows: np.ndarray) -> "Interactions":
    """A new record with only the given rows (ids and sizes unchanged)."""
    rows = np.asarray(rows)
    return dataclasses.replace(
        self,
        user=self.user[rows], item=self.item[rows], rating=self.rating[rows],
        timestamp=None if self.timestamp is None else self.timestamp[rows],
        columns={name: np.asarray(values)[rows] for name, values in self.columns.items()})

  def seen_matrix(self) -> np.ndarray:
    """bool[U, I]: True where the user interacted with the item."""
    seen = np.zeros((self.num_users, self.num_items), dtype=bool)
    seen[self.user, self.item] = True
    return seen


def _plain(value):
  """A numpy scalar as the Python value (so raw ids hash, compare and serialise as given)."""
  return value.item() if isinstance(value, np.generic) else value


PAD_MULTIPLE = 32


def round_up(value: int, multiple: int = PAD_MULTIPLE) -> int:
  """The smallest multiple of `multiple` that is >= max(value, 1) (a static pad width)."""
  return max(1, -(-int(value) // multiple)) * multiple


def padded_histories(data: Interactions, users, width: int | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
  """Each user's training rows and items, padded with -1 to a static width R.

  Args:
    data: the interactions.
    users: [B] user ids.
    width: R; default the batch's longest history rounded up to a multiple of 32 (few
      distinct shapes, few compiles).

  Returns:
    (rows int32[B, R], items int32[B, R]): row indices into `data` and the item ids, in the
    order of `history_rows`, -1 where padded.
  """
  histories = [data.history_rows(int(u)) for u in users]
  longest = max([len(h) for h in histories] + [0])
  width = round_up(longest) if width is None else int(width)
  if longest > width:
    raise ValueError(f"a user has {longest} training rows, more than the pad width {width}; "
                     "raise the width")
  rows = np.full((len(histories), width), -1, dtype=np.int32)
  for b, history in enumerate(histories):
    rows[b, :len(history)] = history
  items = np.where(rows >= 0, data.item[np.maximum(rows, 0)], -1).astype(np.int32)
  return rows, items
