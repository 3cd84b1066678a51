"""Explanations and their verification in words: raw ids, titles and ratings, not dense ids.

    Had user 42 not rated *Fargo* (5 stars), *Contact* (4) and *Scream* (4), *Donnie Brasco*
    would replace *The Silence of the Lambs* at the top.

`describe` renders an `Explanation` (the claim); `describe_verdict` what retraining found.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from cfjax.data.interactions import Interactions
from cfjax.records import Explanation, VerifiedRecord


def user_name(data: Interactions, user: int) -> str:
  """The user's raw id (the dense id when the data has none)."""
  return str(data.user_ids[user]) if data.user_ids is not None else str(user)


def item_name(data: Interactions, item: int) -> str:
  """The item's title in *stars*, or "item <raw id>"."""
  if data.item_titles is not None and data.item_titles[item]:
    return f"*{data.item_titles[item]}*"
  return f"item {data.item_ids[item] if data.item_ids is not None else item}"


def rating_of(data: Interactions, user: int, item: int) -> float | None:
  """The user's training rating of the item, or None if they have none."""
  rows = data.history_rows(user)
  match = rows[data.item[rows] == item]
  return float(data.rating[match[0]]) if match.size else None


def _listing(names: Sequence[str]) -> str:
  names = list(names)
  return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _stars(rating: float | None, first: bool) -> str:
  if rating is None:
    return ""
  value = f"{rating:g}"
  return f" ({value} star{'s' if rating != 1 else ''})" if first else f" ({value})"


def describe(record: Explanation, data: Interactions, k: int = 1) -> str:
  """The explanation as a sentence in the data's own ids and titles.

  Args:
    record: the explanation (dense ids of `data`).
    data: the training interactions (raw ids, titles, ratings).
    k: the list the item is claimed to leave (top-1: "recommended first").

  Returns:
    E.g. "Had user 42 not rated *Fargo* (5 stars) and *Scream* (4), *Contact* would replace
    *Heat* at the top." or, without a set: "<method> found no items whose removal would ...".
  """
  user, item = user_name(data, record.user), item_name(data, record.item)
  if not record.found:
    return f"{record.method} found no items of user {user} whose removal would move {item}."
  implicit = np.all(data.rating[data.history_rows(record.user)] == 1.0)
  verb = "interacted with" if implicit else "rated"
  items = [item_name(data, i) + ("" if implicit else
                                 _stars(rating_of(data, record.user, i), n == 0))
           for n, i in enumerate(record.deleted_items)]
  head = f"Had user {user} not {verb} {_listing(items)}, "
  if record.replacement is not None:
    return head + f"{item_name(data, record.replacement)} would replace {item} at the top."
  where = "recommended first" if k == 1 else f"in the top {k}"
  return head + f"{item} would no longer be {where}."


def describe_verdict(outcomes: Sequence[VerifiedRecord], data: Interactions,
                     k: int = 1) -> str:
  """What retraining without the explanation did, over one verification per seed.

  Args:
    outcomes: the explanation verified once per seed (same record, one seed each).
    data: the training interactions.
    k: the list length the item had to leave.

  Returns:
    E.g. "retrained without them (paired, 600 steps): rank 3 under seed 0; left the top-1
    under 3 of 3 seeds (ranks 3, 2, 5)."
  """
  if not outcomes:
    return "not verified."
  left = sum(v.left_top_k[k] for v in outcomes)
  ranks = ", ".join(str(v.new_rank) for v in outcomes)
  seeds = ", ".join(str(v.seeds[0]) for v in outcomes)
  item = item_name(data, outcomes[0].explanation.item)
  return (f"{item} left the top-{k} under {left} of {len(outcomes)} retraining seeds "
          f"({seeds}: ranks {ranks})")
