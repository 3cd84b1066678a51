"""docs/schema.md is the schema of report.json and explanations.jsonl: a real report (a tiny
`explain_user` run) has exactly the documented fields with the documented JSON types, and the
record classes' JSON fields are exactly the documented ones."""

import dataclasses
import json
import pathlib
import re

import pytest

from cfjax.records import Explanation, VerifiedRecord
from cfjax.workflows import explain_user as pipeline

SCHEMA = pathlib.Path(__file__).resolve().parents[1] / "docs" / "schema.md"
JSON_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "list": list,
              "object": dict, "null": type(None)}


def documented(section: str) -> dict[str, dict]:
  """field path -> {"types", "ids", "when", "any_keys"} of the table under `## section`."""
  text = SCHEMA.read_text()
  body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
  fields = {}
  for line in body.splitlines():
    match = re.match(r"\| `([^`]+)` \|([^|]+)\|([^|]*)\|([^|]+)\|", line)
    if match:
      path, kind, ids, when = (group.strip() for group in match.groups())
      any_keys = kind.endswith("(any keys)")
      types = [JSON_TYPES[name.strip()] for name in kind.removesuffix("(any keys)").split(" or ")]
      fields[path] = {"types": types, "ids": ids, "when": when, "any_keys": any_keys}
  assert fields, f"no field table under '## {section}' in {SCHEMA}"
  return fields


def flatten(value, path: str = "", out=None) -> dict[str, list]:
  """JSON value -> {field path ('users[].top[].item'): [every value found there]}."""
  out = {} if out is None else out
  if path and not (path.endswith("[]") and isinstance(value, dict)):  # items: their fields
    out.setdefault(path, []).append(value)
  if isinstance(value, dict):
    for key, item in value.items():
      flatten(item, f"{path}.{key}" if path else key, out)
  elif isinstance(value, list):
    for item in value:
      flatten(item, f"{path}[]", out)
  return out


def empty_list_item(path: str, found: dict) -> bool:
  """Whether `path` names the items of a list that is present but empty in every instance
  (e.g. `warnings[]` when the run had nothing to warn about): documented, but not found."""
  parent = path[:-2] if path.endswith("[]") else None
  return parent in found and all(value == [] for value in found[parent])


def type_ok(value, types) -> bool:
  if isinstance(value, bool):
    return bool in types
  if isinstance(value, int) and float in types and int not in types:
    return True  # JSON has one number type; a whole float may be written as an int
  return any(isinstance(value, t) and t is not bool for t in types)


@pytest.fixture(scope="module")
def report():
  request = pipeline.Request(dataset="synthetic", users=("7",), methods=("knn",), steps=20,
                             seeds=2)
  return json.loads(json.dumps(pipeline.explain_user(request, progress=False)))


def test_the_report_has_exactly_the_documented_fields(report):
  fields = documented("`report.json`")
  found = flatten(report)
  free = [path for path, spec in fields.items() if spec["any_keys"]]
  undocumented = [path for path in found if path not in fields
                  and not any(path.startswith(prefix + ".") for prefix in free)]
  assert not undocumented, f"fields missing from docs/schema.md: {undocumented}"
  (method,) = report["users"][0]["methods"]
  assert method["found"]  # so the "verified" fields must be there too
  missing = [path for path in fields if path not in found
             and not path.startswith("users[].methods[].replacement")
             and not empty_list_item(path, found)]
  assert not missing, f"documented fields the report lacks: {missing}"
  for path, values in found.items():
    if path in fields:
      wrong = [v for v in values if not type_ok(v, fields[path]["types"])]
      assert not wrong, f"{path}: {wrong[:3]} is not {fields[path]['types']}"
  assert report["schema_version"] == pipeline.REPORT_SCHEMA_VERSION == 1


def test_the_counts_are_the_seeds_whose_target_left_the_top_k(report):
  user = report["users"][0]
  for part in (user["methods"][0], user["methods"][0]["placebo"], user["noise_floor"]):
    left = sum(outcome["left_top_k"] for outcome in part["verification"])
    assert part["seeds_left_top_k"] == part["held"] == left
  paired = [o for o in user["noise_floor"]["verification"] if o["paired"]]
  assert paired and not paired[0]["left_top_k"]  # nothing deleted, own seed: it stays


def test_the_report_speaks_raw_ids_only(report):
  fields = documented("`report.json`")
  raw = {path for path, spec in fields.items() if spec["ids"] == "raw"}
  assert "users[].user" in raw and "users[].target.item" in raw
  assert not any(spec["ids"] == "dense" for spec in fields.values())


def test_explanations_jsonl_fields_are_the_records():
  fields = documented("`explanations.jsonl`")
  explanation = [f.name for f in dataclasses.fields(Explanation)]
  verified = explanation + [f.name for f in dataclasses.fields(VerifiedRecord)
                            if f.name != "explanation"]
  assert list(fields) == verified
  assert [path for path, spec in fields.items() if spec["ids"] == "dense"] == [
      "user", "item", "deleted_items", "replacement"]
  record = VerifiedRecord(
      explanation=Explanation(user=3, item=5, deleted_items=(1, 2), method="knn",
                              raw={"user": "u3", "item": "i5", "deleted_items": ["i1", "i2"],
                                   "replacement": None}),
      original_rank=1, new_rank=4, left_top_k={1: True}, item_score_original=0.5,
      item_score_new=0.25, replacement_score_new=None, replacement_overtook=None,
      protocol="scratch", seeds=(0,))
  payload = json.loads(json.dumps(record.to_json()))
  assert list(payload) == verified
  for path, value in payload.items():
    assert type_ok(value, fields[path]["types"]), (path, value)
