"""Explanation records and their verified outcomes, stored as JSON lines.

An `ExplanationRecord` is a claim: "had `user` not interacted with `deleted_items`, `item`
would leave the top-K" (Yao et al., eq. 2), optionally "and `replacement` would take its place"
(ACCENT). A `VerifiedRecord` is that claim plus what retraining actually did.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Iterable

import numpy as np


def _jsonable(value: Any) -> Any:
  """Numpy scalars/arrays and tuples -> plain JSON values."""
  if isinstance(value, dict):
    return {str(k): _jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple, np.ndarray)):
    return [_jsonable(v) for v in value]
  if isinstance(value, np.bool_):
    return bool(value)
  if isinstance(value, np.integer):
    return int(value)
  if isinstance(value, np.floating):
    return float(value)
  return value


@dataclasses.dataclass(frozen=True)
class ExplanationRecord:
  """A counterfactual explanation to verify.

  Attributes:
    user: the user u.
    item: the recommended item the explanation is about (must be unseen by u in training).
    deleted_items: items of u's training history whose deletion should remove `item` from
      the top-K (Yao et al., eq. 2).
    replacement: the item that should take `item`'s place (ACCENT), or None.
    method: the explainer that produced the record, e.g. "knn".
    extra: anything else JSON-serialisable (explainer scores, timing...).
  """

  user: int
  item: int
  deleted_items: tuple[int, ...]
  replacement: int | None = None
  method: str = ""
  extra: dict = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    object.__setattr__(self, "user", int(self.user))
    object.__setattr__(self, "item", int(self.item))
    object.__setattr__(self, "deleted_items", tuple(int(i) for i in self.deleted_items))
    if self.replacement is not None:
      object.__setattr__(self, "replacement", int(self.replacement))
    if len(set(self.deleted_items)) != len(self.deleted_items):
      raise ValueError(f"deleted_items {self.deleted_items} has duplicates; list each item once")
    if self.replacement is not None and self.replacement == self.item:
      raise ValueError(f"replacement {self.replacement} equals the item; pass another item or None")

  def to_json(self) -> dict:
    """A plain JSON dict of the record."""
    return _jsonable(dataclasses.asdict(self))

  @classmethod
  def from_json(cls, payload: dict) -> "ExplanationRecord":
    """Inverse of `to_json`; raises ValueError/TypeError/KeyError on a malformed dict."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(payload) - names
    if unknown:
      raise ValueError(f"unknown fields {sorted(unknown)}")
    return cls(**{k: (tuple(v) if k == "deleted_items" else v) for k, v in payload.items()})


_EXPLANATION_FIELDS = tuple(f.name for f in dataclasses.fields(ExplanationRecord))


@dataclasses.dataclass(frozen=True)
class VerifiedRecord:
  """An explanation and what retraining without its deleted items did (Yao et al., eq. 2).

  Attributes:
    explanation: the verified `ExplanationRecord`.
    original_rank: the item's rank under the baseline: the control retrain deleting nothing
      under the same seeds (the paired baseline).
    new_rank: the item's rank after deleting the explanation's rows and retraining.
    left_top_k: K -> whether new_rank > K (the explanation is valid at K).
    item_score_original: the item's seed-averaged baseline score.
    item_score_new: the item's seed-averaged counterfactual score.
    replacement_score_new: the replacement's seed-averaged counterfactual score, or None.
    replacement_overtook: ACCENT's criterion, replacement_score_new > item_score_new; None
      without a replacement.
    protocol: "scratch" or "warm".
    seeds: the retraining seeds.
    unretrained_rank: the item's rank under the original (not retrained) parameters.
    replacement_score_original: the replacement's seed-averaged baseline (control) score, or
      None; with item_score_original it says whether continued training ALONE, deleting
      nothing, already lets the replacement overtake (the noise floor of ACCENT's test).
  """

  explanation: ExplanationRecord
  original_rank: int
  new_rank: int
  left_top_k: dict[int, bool]
  item_score_original: float
  item_score_new: float
  replacement_score_new: float | None
  replacement_overtook: bool | None
  protocol: str
  seeds: tuple[int, ...]
  unretrained_rank: int | None = None
  replacement_score_original: float | None = None

  def to_json(self) -> dict:
    """A flat JSON dict: the explanation's fields followed by the verification's."""
    payload = self.explanation.to_json()
    for field in dataclasses.fields(self):
      if field.name != "explanation":
        payload[field.name] = _jsonable(getattr(self, field.name))
    return payload

  @classmethod
  def from_json(cls, payload: dict) -> "VerifiedRecord":
    """Inverse of `to_json`; raises ValueError/TypeError/KeyError on a malformed dict."""
    payload = dict(payload)
    explanation = ExplanationRecord.from_json(
        {k: payload.pop(k) for k in _EXPLANATION_FIELDS if k in payload})
    payload["left_top_k"] = {int(k): bool(v) for k, v in payload["left_top_k"].items()}
    payload["seeds"] = tuple(int(s) for s in payload["seeds"])
    return cls(explanation=explanation, **payload)


def write_jsonl(path: str | os.PathLike, records: Iterable) -> None:
  """Writes records (anything with `to_json`) one JSON object per line."""
  with open(path, "w", encoding="utf-8") as f:
    for record in records:
      f.write(json.dumps(record.to_json(), sort_keys=True) + "\n")


def read_jsonl(path: str | os.PathLike, record_type: type = ExplanationRecord) -> list:
  """Reads records written by `write_jsonl`; blank lines are skipped.

  Args:
    path: the .jsonl file.
    record_type: `ExplanationRecord` (default) or `VerifiedRecord`.

  Returns:
    The records in file order.

  Raises:
    ValueError: naming the file and line of the first malformed record.
  """
  records = []
  with open(path, encoding="utf-8") as f:
    for number, line in enumerate(f, start=1):
      if not line.strip():
        continue
      try:
        records.append(record_type.from_json(json.loads(line)))
      except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise ValueError(f"{path}:{number}: malformed {record_type.__name__} ({e}); fix or "
                         "delete that line") from None
  return records
