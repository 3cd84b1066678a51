"""ACCENT's RCF data (Tran et al., SIGIR 2021; Xin et al., SIGIR 2019): triples plus item side data.

`load("accent-rcf")` reads `accent-ml100k/`'s RCF files:
  train.csv / test.csv        `user,pos_item,neg_item`: one (u, i+, i-) triple per row
  relational_data.csv         `head,type,value,tail_pos,tail_neg`: item-item relations (type 1
                              same genre, 2 same director, 3 same actor; value = that genre,
                              director or actor) with a positive and a sampled negative tail
  auxiliary-mapping.txt       `item|genres|directors|actors`, comma-separated ids

Ids are made dense as ACCENT's `Dataset.compress` does: users by sorted raw id over train and
test; items by sorted raw id over every item column of train, test and the relations (1,654
items). Attribute values keep their raw ids (0-based). A training row is one triple: its
`item` is the positive, `columns["negative"]` the negative, `rating` 1.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from cfjax.data.errors import DatasetError
from cfjax.data.interactions import DuplicateRowsError, Interactions
from cfjax.data.parsing import INT, read_delimited, read_lines

RCF_SHA256 = {
    "train.csv": "070379a2861e0307c6a5fc933f963a0d212090477ffcb116fb33ef016563f5fd",
    "test.csv": "167993be2eeeba1428ba2879587e8e6907a3d8ef1d887421158b4170b52212bb",
    "relational_data.csv": "8203a76e30aebdc52f6d8357db07b3f7d2fbb647a6482cb0462f6cf5f2772c34",
    "auxiliary-mapping.txt": "ac7b931c8cae0ec49b75b8d5e199320a8f749994324c4f2de6ee6ce67eb2a3c1",
}
ATTRIBUTE_TYPES = ("genre", "director", "actor")  # relation types 1, 2, 3
_TRIPLE = (("user", INT), ("pos_item", INT), ("neg_item", INT))
_RELATION = (("head", INT), ("type", INT), ("value", INT), ("tail_pos", INT), ("tail_neg", INT))


@dataclasses.dataclass(frozen=True, eq=False)
class RelationalInteractions(Interactions):
  """Training triples with the item side data RCF reads (Xin et al. 2019).

  Attributes (beyond `Interactions`; `columns["negative"]` holds each row's negative item):
    attributes: {"genre" | "director" | "actor": tuple of I int arrays}, item i's value ids.
    num_values: {type: V_t} the size of each value id space.
    relations: int32[Q, 5] (head, type 1..3, value, tail_pos, tail_neg), dense item ids.
    test: int32[T, 3] held-out (user, pos_item, neg_item) triples, dense ids.
  """

  attributes: dict = dataclasses.field(default_factory=dict)
  num_values: dict = dataclasses.field(default_factory=dict)
  relations: np.ndarray | None = None
  test: np.ndarray | None = None


def _read_attributes(path: pathlib.Path, item_index: dict[int, int], num_items: int
                     ) -> tuple[dict, dict]:
  """Per type, each dense item's value ids (items without a line get none)."""
  values = {name: [np.zeros(0, np.int32) for _ in range(num_items)] for name in ATTRIBUTE_TYPES}
  for number, line in enumerate(read_lines(path, encoding="utf-8"), start=1):
    fields = line.split("|")
    if len(fields) != 4:
      raise DatasetError(f"{path}: line {number}: expected 4 '|'-separated fields "
                         f"(item|genres|directors|actors), found {len(fields)}")
    try:
      raw = int(fields[0])
      lists = [np.asarray([int(v) for v in f.split(",")] if f else [], np.int32)
               for f in fields[1:]]
    except ValueError:
      raise DatasetError(f"{path}: line {number}: ids must be integers, got {line!r}") from None
    if any((v < 0).any() for v in lists):
      raise DatasetError(f"{path}: line {number}: a value id is negative; fix that line")
    if raw in item_index:  # items outside the triples and relations are not RCF items
      for name, ids in zip(ATTRIBUTE_TYPES, lists):
        values[name][item_index[raw]] = np.unique(ids)
  sizes = {name: int(max([v.max() + 1 for v in values[name] if v.size] + [1]))
           for name in ATTRIBUTE_TYPES}
  return {name: tuple(v) for name, v in values.items()}, sizes


def read_accent_rcf(folder: pathlib.Path, root: pathlib.Path) -> RelationalInteractions:
  """Reads ACCENT's RCF files from `folder` (see the module docstring)."""
  del root
  train = read_delimited(folder / "train.csv", sep=",", columns=_TRIPLE,
                         header=("user", "pos_item", "neg_item"))
  test = read_delimited(folder / "test.csv", sep=",", columns=_TRIPLE,
                        header=("user", "pos_item", "neg_item"))
  rel = read_delimited(folder / "relational_data.csv", sep=",", columns=_RELATION,
                       header=tuple(name for name, _ in _RELATION))
  for name, cols in (("train.csv", train), ("test.csv", test), ("relational_data.csv", rel)):
    for column, values in cols.items():
      if values.size and values.min() < 0:
        row = int(np.argmax(values < 0))
        raise DatasetError(f"{folder / name}: line {row + 2}: {column} {values[row]} is "
                           "negative; ids are positive in this dataset: fix that line")
  bad_type = (rel["type"] < 1) | (rel["type"] > 3)
  if bad_type.any():
    row = int(np.argmax(bad_type))
    raise DatasetError(f"{folder / 'relational_data.csv'}: line {row + 2}: type "
                       f"{rel['type'][row]} is not 1 (genre), 2 (director) or 3 (actor)")
  user_ids = np.unique(np.concatenate([train["user"], test["user"]]))
  item_ids = np.unique(np.concatenate([train["pos_item"], train["neg_item"], test["pos_item"],
                                       test["neg_item"], rel["head"], rel["tail_pos"],
                                       rel["tail_neg"]]))
  user = lambda raw: np.searchsorted(user_ids, raw).astype(np.int32)
  item = lambda raw: np.searchsorted(item_ids, raw).astype(np.int32)
  attributes, num_values = _read_attributes(
      folder / "auxiliary-mapping.txt", {int(r): i for i, r in enumerate(item_ids)},
      len(item_ids))
  value_over = [(t, name) for t, name in enumerate(ATTRIBUTE_TYPES, start=1)
                if (rel["value"][rel["type"] == t] >= num_values[name]).any()]
  if value_over:
    t, name = value_over[0]
    raise DatasetError(f"{folder / 'relational_data.csv'}: a type-{t} relation names a {name} "
                       f"id >= {num_values[name]}, which no item has in auxiliary-mapping.txt")
  relations = np.stack([item(rel["head"]), rel["type"].astype(np.int32),
                        rel["value"].astype(np.int32), item(rel["tail_pos"]),
                        item(rel["tail_neg"])], axis=1)
  test_rows = np.stack([user(test["user"]), item(test["pos_item"]), item(test["neg_item"])], 1)
  try:
    return RelationalInteractions(
        user=user(train["user"]), item=item(train["pos_item"]),
        rating=np.ones(len(train["user"]), np.float32), num_users=len(user_ids),
        num_items=len(item_ids), user_ids=user_ids, item_ids=item_ids, name="accent-rcf",
        columns={"negative": item(train["neg_item"])}, attributes=attributes,
        num_values=num_values, relations=relations, test=test_rows)
  except DuplicateRowsError as error:
    first, second = error.rows
    raise DatasetError(f"{folder / 'train.csv'}: lines {first + 2} and {second + 2} hold the "
                       "same (user, pos_item); each positive may appear once per user: delete "
                       "the duplicate") from None


def synthetic_rcf(num_users: int = 12, num_items: int = 16, *, per_user: int = 5,
                  num_values: tuple[int, int, int] = (4, 3, 6), num_relations: int = 40,
                  seed: int = 0) -> RelationalInteractions:
  """Tiny random RCF data for tests: `per_user` positives per user, each with a random
  negative the user did not like, 1-2 genres, 1 director and 1-3 actors per item, and random
  relations between items that share a value.

  Returns:
    A `RelationalInteractions` named "synthetic-rcf" (with 2 test triples per user).
  """
  rng = np.random.default_rng(seed)
  users, positives, negatives, test = [], [], [], []
  for u in range(num_users):
    chosen = rng.choice(num_items, per_user + 2, replace=False)
    others = np.setdiff1d(np.arange(num_items), chosen)
    for i in chosen[:per_user]:
      users.append(u)
      positives.append(i)
      negatives.append(rng.choice(others))
    test += [(u, int(i), int(rng.choice(others))) for i in chosen[per_user:]]
  counts = {"genre": (1, 3), "director": (1, 2), "actor": (1, 4)}
  attributes = {name: tuple(np.unique(rng.integers(0, v, rng.integers(*counts[name]))).astype(
      np.int32) for _ in range(num_items)) for name, v in zip(ATTRIBUTE_TYPES, num_values)}
  relations = []
  while len(relations) < num_relations:
    t = int(rng.integers(1, 4))
    name = ATTRIBUTE_TYPES[t - 1]
    head = int(rng.integers(num_items))
    value = int(rng.choice(attributes[name][head]))
    tails = [j for j in range(num_items) if j != head and value in attributes[name][j]]
    others = [j for j in range(num_items) if value not in attributes[name][j]]
    if tails and others:
      relations.append((head, t, value, int(rng.choice(tails)), int(rng.choice(others))))
  return RelationalInteractions(
      user=np.asarray(users, np.int32), item=np.asarray(positives, np.int32),
      rating=np.ones(len(users), np.float32), num_users=num_users, num_items=num_items,
      name="synthetic-rcf", columns={"negative": np.asarray(negatives, np.int32)},
      attributes=attributes, num_values=dict(zip(ATTRIBUTE_TYPES, num_values)),
      relations=np.asarray(relations, np.int32).reshape(-1, 5),
      test=np.asarray(test, np.int32))
