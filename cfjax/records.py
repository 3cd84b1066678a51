"""Explanations and their verified outcomes, the records every layer above `rank` speaks.

An `Explanation` is a claim: "had `user` not interacted with `deleted_items`, `item` would
leave the top-K" (Yao et al., eq. 2), optionally "and `replacement` would take its place"
(ACCENT, Tran et al. 2021). A `VerifiedRecord` is that claim plus what retraining did. Both
round-trip through JSON lines (`write_jsonl` / `read_jsonl`).

Ids are integers, strictly: a float user (3.9) or a string of items ("123") is an error, not
silently truncated or split into characters.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
import os
from typing import Any, Iterable, Sequence

import numpy as np

from cfjax.util import atomic_write_text, jsonable, load_checked, save_checked, warn_damaged


def _integer(value: Any, what: str) -> int:
  """`value` as an int if it is an integer (Python or numpy, not bool), else a ValueError."""
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral,)):
    raise ValueError(f"{what} must be an integer id, got {value!r}; pass an int")
  return int(value)


def _integers(values: Any, what: str) -> tuple[int, ...]:
  if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
    raise ValueError(f"{what} must be a list of integer ids, got {values!r}; pass a list")
  return tuple(_integer(v, f"{what} entry") for v in values)


@dataclasses.dataclass(frozen=True)
class Explanation:
  """A counterfactual explanation of one recommendation, to be verified by retraining.

  Attributes:
    user: the user u (dense id of the training data).
    item: the recommended item the explanation is about (unseen by u in training).
    deleted_items: items of u's training history whose deletion should remove `item` from
      the top-K (Yao et al., eq. 2); empty when the explainer found nothing.
    replacement: the item that should take `item`'s place (ACCENT), or None.
    method: the explainer that produced the record, e.g. "knn".
    extra: anything else JSON-serialisable (explainer scores, timing...).
    raw: the same record in the data's own ids, when the data have them (set by
      `cfjax.data.raw_ids.with_raw_ids`, which `run_explainer` applies): {"user", "item",
      "deleted_items", "replacement"} as raw ids and, where known, "item_title",
      "deleted_titles", "replacement_title"; None otherwise (then omitted from JSON).
  """

  user: int
  item: int
  deleted_items: tuple[int, ...]
  replacement: int | None = None
  method: str = ""
  extra: dict = dataclasses.field(default_factory=dict)
  raw: dict | None = None

  def __post_init__(self):
    object.__setattr__(self, "user", _integer(self.user, "user"))
    object.__setattr__(self, "item", _integer(self.item, "item"))
    object.__setattr__(self, "deleted_items", _integers(self.deleted_items, "deleted_items"))
    if self.replacement is not None:
      object.__setattr__(self, "replacement", _integer(self.replacement, "replacement"))
    if not isinstance(self.method, str):
      raise ValueError(f"method must be a string, got {self.method!r}")
    if not isinstance(self.extra, dict):
      raise ValueError(f"extra must be a dict, got {type(self.extra).__name__}")
    if self.raw is not None and not isinstance(self.raw, dict):
      raise ValueError(f"raw must be a dict or None, got {type(self.raw).__name__}")
    if len(set(self.deleted_items)) != len(self.deleted_items):
      raise ValueError(f"deleted_items {self.deleted_items} has duplicates; list each item once")
    if self.replacement is not None and self.replacement == self.item:
      raise ValueError(f"replacement {self.replacement} equals the item; pass another item or None")

  @property
  def found(self) -> bool:
    """Whether the explainer proposed a deletion (a non-empty set, not flagged as failed)."""
    return bool(self.deleted_items) and not self.extra.get("failed", False)

  def to_json(self) -> dict:
    """A plain JSON dict of the record (without "raw" when it is None)."""
    payload = jsonable(dataclasses.asdict(self))
    if payload["raw"] is None:
      del payload["raw"]
    return payload

  @classmethod
  def from_json(cls, payload: dict) -> "Explanation":
    """Inverse of `to_json`; raises ValueError/TypeError/KeyError on a malformed dict."""
    if not isinstance(payload, dict):
      raise ValueError(f"expected a JSON object, got {type(payload).__name__}")
    unknown = set(payload) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
      raise ValueError(f"unknown fields {sorted(unknown)}")
    return cls(**payload)


ExplanationRecord = Explanation  # the name used before the records moved here
_EXPLANATION_FIELDS = tuple(f.name for f in dataclasses.fields(Explanation))


@dataclasses.dataclass(frozen=True)
class VerifiedRecord:
  """An explanation and what retraining without its deleted items did (Yao et al., eq. 2).

  Attributes:
    explanation: the verified `Explanation`.
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
    convergence: for retraining to convergence, {"grad_norm", "steps"} reached by the
      record's model (the largest over seeds) and "control_grad_norm", "control_steps" by its
      control; None for a fixed number of steps.
  """

  explanation: Explanation
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
  convergence: dict | None = None

  def to_json(self) -> dict:
    """A flat JSON dict: the explanation's fields followed by the verification's."""
    payload = self.explanation.to_json()
    for field in dataclasses.fields(self):
      if field.name != "explanation":
        payload[field.name] = jsonable(getattr(self, field.name))
    return payload

  @classmethod
  def from_json(cls, payload: dict) -> "VerifiedRecord":
    """Inverse of `to_json`; raises ValueError/TypeError/KeyError on a malformed dict."""
    payload = dict(payload)
    explanation = Explanation.from_json(
        {k: payload.pop(k) for k in _EXPLANATION_FIELDS if k in payload})
    payload["left_top_k"] = {int(k): bool(v) for k, v in payload["left_top_k"].items()}
    payload["seeds"] = tuple(_integer(s, "seed") for s in payload["seeds"])
    return cls(explanation=explanation, **payload)


def jsonl_text(records: Iterable) -> str:
  """Records (anything with `to_json`) as JSON lines, keys sorted."""
  return "".join(json.dumps(r.to_json(), sort_keys=True, allow_nan=False) + "\n"
                 for r in records)


def write_jsonl(path: str | os.PathLike, records: Iterable) -> None:
  """Writes records one JSON object per line, atomically (a reader never sees half a file)."""
  atomic_write_text(path, jsonl_text(records))


def read_jsonl(path: str | os.PathLike, record_type: type = Explanation) -> list:
  """Reads records written by `write_jsonl`; blank lines are skipped.

  Args:
    path: the .jsonl file.
    record_type: `Explanation` (default) or `VerifiedRecord`.

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



def save_records(path: str | os.PathLike, records: Iterable) -> None:
  """`write_jsonl` with the file's SHA-256 beside it (`cfjax.util.save_checked`), for
  intermediate results a later run reloads with `load_records`."""
  save_checked(path, jsonl_text(records).encode("utf-8"))


def load_records(path: str | os.PathLike, record_type: type = Explanation) -> list | None:
  """The records `save_records` wrote; None if there are none, or (after a warning naming the
  file) if the file is truncated, altered or unreadable, so the caller computes them again."""
  payload = load_checked(path)
  if payload is None:
    return None
  try:
    return [record_type.from_json(json.loads(line)) for line in
            payload.decode("utf-8").splitlines() if line.strip()]
  except (ValueError, TypeError, KeyError, AttributeError) as error:
    warn_damaged(path, error)
    return None
