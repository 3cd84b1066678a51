"""Interactions with a user-user trust network (Epinions; Massa & Avesani, RecSys 2007).

`load("epinions")` reads trustlet.org's "Downloaded Epinions" files from `epinions/`:
  ratings_data.txt   `user item rating` (single spaces, no header, ratings 1..5)
  trust_data.txt     ` source target 1` (a leading space on every line): `source` trusts
                     `target`; every value is 1 (this version has no distrust statements)

The ratings are an ordinary `Interactions` (users and items dense by sorted raw id). The trust
statements travel with them as side data, like RCF's item relations (`cfjax.data.rcf`): every
statement is kept by raw ids in `trust_raw`, and `trust` gives the ones between users of the
record as dense user indices. A statement naming a user without ratings (the trust file covers
49,288 users, the ratings 40,163) is therefore kept in `trust_raw` but left out of `trust`; the
same happens to users a transform removes (`lcer_positives`, `filter_min_interactions`), since
`trust` is recomputed from the record's own `user_ids`.
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib

import numpy as np

from cfjax.data.errors import DatasetError
from cfjax.data.interactions import Interactions
from cfjax.data.parsing import INT, read_delimited

EPINIONS_SHA256 = {
    "ratings_data.txt": "6da14f79369cf882911a271efd5f4575bc4292d0497ccf3190b6421a6d198e42",
    "trust_data.txt": "7562075fdcc27d04cd1d88d592e04f4fa57e5d7043246187789d0ccc3e1985f0",
}
TRUST_FILE = "trust_data.txt"


@dataclasses.dataclass(frozen=True, eq=False)
class SocialInteractions(Interactions):
  """Interactions plus a directed trust network between users.

  Attributes (beyond `Interactions`, whose `user_ids` this record needs):
    trust_raw: int64[T, 2] (source, target) raw user ids of every trust statement, in file
      order, including those naming users absent from the ratings (self-trust rows kept).
  """

  trust_raw: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 2), np.int64))

  def __post_init__(self):
    super().__post_init__()
    if np.ndim(self.trust_raw) != 2 or np.shape(self.trust_raw)[1] != 2:
      raise ValueError(f"trust_raw has shape {np.shape(self.trust_raw)}; it holds one "
                       "(source, target) raw user id pair per row, shape [T, 2]")
    if self.user_ids is None:
      raise ValueError("SocialInteractions needs user_ids (the raw user ids) to place the "
                       "trust statements; pass user_ids=")

  @functools.cached_property
  def trust(self) -> np.ndarray:
    """int32[T', 2] (source, target) dense user indices of the trust statements whose two
    users are both in this record's user id space, in file order."""
    ids = np.asarray(self.user_ids)
    if not len(ids):
      return np.zeros((0, 2), np.int32)
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    position = np.searchsorted(sorted_ids, self.trust_raw)
    inside = position < len(ids)
    found = inside & (sorted_ids[np.minimum(position, len(ids) - 1)] == self.trust_raw)
    keep = found.all(axis=1)
    return order[position[keep]].astype(np.int32).reshape(-1, 2)


def read_trust(path: pathlib.Path) -> np.ndarray:
  """Reads trustlet's `trust_data.txt` (` source target 1`, leading space) into int64[T, 2].

  Raises:
    DatasetError: naming the file and line of a malformed row, a negative id, or a value
      other than 1 (e.g. the distrust rows of "Extended Epinions", which this loader does not
      read).
  """
  cols = read_delimited(path, sep=" ", skip_initial_space=True,
                        columns=(("source", INT), ("target", INT), ("value", INT)))
  for name in ("source", "target"):
    negative = cols[name] < 0
    if negative.any():
      row = int(np.argmax(negative))
      raise DatasetError(f"{path}: line {row + 1}: {name} id {cols[name][row]} is negative; "
                         "user ids are positive in this dataset: fix or delete that line")
  other = cols["value"] != 1
  if other.any():
    row = int(np.argmax(other))
    raise DatasetError(f"{path}: line {row + 1}: value {cols['value'][row]} is not 1; the "
                       "Downloaded Epinions trust file holds trust statements only (value 1): "
                       "use that file, not Extended Epinions' trust/distrust file")
  return np.stack([cols["source"], cols["target"]], axis=1)
