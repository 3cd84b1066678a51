"""Explanation records: strict ids, JSON lines round trips, one-line errors."""

import json

import numpy as np
import pytest

from cfjax.records import Explanation, ExplanationRecord, VerifiedRecord, read_jsonl, write_jsonl


def verified_record(method, rank_new, overtook=None):
  explanation = Explanation(0, 5, (1, 2), replacement=None if overtook is None else 6,
                            method=method, extra={"score": 0.25})
  return VerifiedRecord(explanation, original_rank=1, new_rank=rank_new,
                        left_top_k={1: rank_new > 1, 3: rank_new > 3}, item_score_original=1.0,
                        item_score_new=0.5, replacement_score_new=None if overtook is None else 0.7,
                        replacement_overtook=overtook, protocol="scratch", seeds=(1,),
                        unretrained_rank=1)


def test_jsonl_round_trip(tmp_path):
  explanations = [ExplanationRecord(np.int64(3), 7, np.array([1, 2]), replacement=9, method="x",
                                    extra={"t": np.float32(0.5)}), ExplanationRecord(1, 2, ())]
  write_jsonl(tmp_path / "e.jsonl", explanations)
  assert read_jsonl(tmp_path / "e.jsonl") == explanations
  verified = [verified_record("a", 2, True), verified_record("b", 1)]
  write_jsonl(tmp_path / "v.jsonl", verified)
  assert read_jsonl(tmp_path / "v.jsonl", VerifiedRecord) == verified


def test_jsonl_malformed_line_names_file_and_line(tmp_path):
  path = tmp_path / "bad.jsonl"
  good = json.dumps(ExplanationRecord(1, 2, (3,)).to_json())
  path.write_text(good + "\n\n" + '{"user": 1, "item": 2}\n')
  with pytest.raises(ValueError, match=r"bad.jsonl:3: malformed Explanation"):
    read_jsonl(path)
  path.write_text("not json\n")
  with pytest.raises(ValueError, match=r"bad.jsonl:1"):
    read_jsonl(path)


def test_record_validation():
  with pytest.raises(ValueError, match="duplicates"):
    ExplanationRecord(0, 1, (2, 2))
  with pytest.raises(ValueError, match="equals the item"):
    ExplanationRecord(0, 1, (2,), replacement=1)


@pytest.mark.parametrize("kwargs, message", [
    (dict(user=3.9, item=1, deleted_items=(2,)), "user must be an integer id, got 3.9"),
    (dict(user=True, item=1, deleted_items=(2,)), "user must be an integer id"),
    (dict(user=0, item="1", deleted_items=(2,)), "item must be an integer id"),
    (dict(user=0, item=1, deleted_items="123"), "deleted_items must be a list"),
    (dict(user=0, item=1, deleted_items=(2.0,)), "deleted_items entry must be an integer"),
    (dict(user=0, item=1, deleted_items=(2,), replacement=4.5), "replacement must be"),
    (dict(user=0, item=1, deleted_items=(2,), extra=[1]), "extra must be a dict"),
])
def test_ill_typed_records_are_refused_not_truncated(kwargs, message):
  with pytest.raises(ValueError, match=message):
    Explanation(**kwargs)


def test_a_jsonl_line_with_a_float_user_names_the_line(tmp_path):
  path = tmp_path / "e.jsonl"
  path.write_text('{"user": 3.9, "item": 1, "deleted_items": [2]}\n')
  with pytest.raises(ValueError, match="e.jsonl:1: .*user must be an integer id"):
    read_jsonl(path)


def test_found_means_a_non_empty_set_that_did_not_fail():
  assert Explanation(0, 1, (2,)).found
  assert not Explanation(0, 1, ()).found
  assert not Explanation(0, 1, (2,), extra={"failed": True}).found
  assert ExplanationRecord is Explanation


def test_saved_records_reload_and_damage_is_noticed(tmp_path):
  from cfjax.records import load_records, save_records
  from cfjax.util import DamagedFileWarning
  records = [Explanation(1, 2, (3, 4), method="m"), Explanation(5, 6, ())]
  save_records(tmp_path / "r.jsonl", records)
  assert load_records(tmp_path / "r.jsonl") == records
  text = (tmp_path / "r.jsonl").read_text()
  (tmp_path / "r.jsonl").write_text(text.splitlines()[0] + "\n")  # cut at a line boundary
  with pytest.warns(DamagedFileWarning, match="r.jsonl is damaged"):
    assert load_records(tmp_path / "r.jsonl") is None
