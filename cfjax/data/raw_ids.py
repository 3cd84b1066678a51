"""Records in the data's own ids: raw user / item ids and titles beside the dense ones.

Explainers and the engine work on dense 0-based ids; people read MovieLens ids, product codes
and titles. `with_raw_ids(record, data)` fills an `Explanation`'s `raw` field from the data
(`Interactions.raw_user`, `raw_item`, `item_title`), and `raw_columns` gives the same as
flat columns for a results row.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

from cfjax.data.interactions import Interactions
from cfjax.records import Explanation


def has_raw_ids(data: Interactions) -> bool:
  """Whether the data know anything beyond dense ids (raw ids or titles)."""
  return (data.user_ids is not None or data.item_ids is not None
          or data.item_titles is not None)


def raw_fields(data: Interactions, record: Explanation) -> dict:
  """{"user", "item", "deleted_items", "replacement"} in raw ids and, where the data have
  titles, "item_title", "deleted_titles", "replacement_title"."""
  fields = {"user": data.raw_user(record.user), "item": data.raw_item(record.item),
            "deleted_items": [data.raw_item(i) for i in record.deleted_items],
            "replacement": (None if record.replacement is None
                            else data.raw_item(record.replacement))}
  if data.item_titles is not None:
    fields["item_title"] = data.item_title(record.item)
    fields["deleted_titles"] = [data.item_title(i) for i in record.deleted_items]
    fields["replacement_title"] = (None if record.replacement is None
                                   else data.item_title(record.replacement))
  return fields


def with_raw_ids(record: Explanation, data: Interactions) -> Explanation:
  """The record with its `raw` field filled from `data` (unchanged if the data have only
  dense ids)."""
  if not has_raw_ids(data):
    return record
  return dataclasses.replace(record, raw=raw_fields(data, record))


def all_with_raw_ids(records: Iterable[Explanation], data: Interactions) -> list[Explanation]:
  """`with_raw_ids` of every record."""
  return [with_raw_ids(record, data) for record in records]


def raw_columns(record: Explanation, data: Interactions) -> dict:
  """Flat columns for a results row: user_id, item_id, deleted_item_ids (";"-joined),
  replacement_id and, with titles, item_title, deleted_titles, replacement_title."""
  fields = raw_fields(data, record)
  row = {"user_id": fields["user"], "item_id": fields["item"],
         "deleted_item_ids": ";".join(map(str, fields["deleted_items"])),
         "replacement_id": fields["replacement"]}
  if "item_title" in fields:
    row.update(item_title=fields["item_title"],
               deleted_titles=";".join(t or "" for t in fields["deleted_titles"]),
               replacement_title=fields["replacement_title"])
  return row
