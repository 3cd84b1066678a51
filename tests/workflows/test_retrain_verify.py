"""The retrain-and-verify pipeline on synthetic data: outputs, reuse, and what it records."""

import json

import pytest

from cfjax.workflows import retrain_verify
from cfjax.records import VerifiedRecord, read_jsonl
from cfjax.experiments.configs.retrain_verify import get_config

METHODS = {"knn", "random", "none"}


def config(**overrides):
  c = get_config("smoke")
  c.update({**dict(dataset="synthetic", num_users=2, steps=10, chunk_size=1), **overrides})
  return c


def check_outputs(out, num_users):
  for name in ("config.json", "explanations.jsonl", "rows.csv", "table.md", "table.json"):
    assert (out / name).is_file(), name
  table = json.loads((out / "table.json").read_text())
  assert set(table["methods"]) == METHODS
  assert all(s["users"] == num_users for s in table["methods"].values())
  verified = read_jsonl(out / "explanations.jsonl", VerifiedRecord)
  assert len(verified) == 3 * num_users
  assert {v.explanation.method for v in verified} == METHODS
  assert all(v.explanation.deleted_items == () for v in verified
             if v.explanation.method == "none")
  return table


def test_pipeline_writes_every_file_and_reuses_finished_results(tmp_path):
  table = check_outputs_after(tmp_path, config())
  recorded = json.loads((tmp_path / "config.json").read_text())
  assert recorded["code"]["source_sha256"] and recorded["data"]["sha256"]
  assert recorded["model_hparams"]["l2"] == 0.15 and recorded["config"]["steps"] == 10
  stamp = (tmp_path / "table.json").stat().st_mtime_ns
  assert retrain_verify.run(config(), tmp_path) == table
  assert (tmp_path / "table.json").stat().st_mtime_ns == stamp  # found, not rewritten
  retrain_verify.run(config(steps=11), tmp_path)
  assert (tmp_path / "table.json").stat().st_mtime_ns != stamp  # another config: recomputed


def check_outputs_after(out, c):
  retrain_verify.run(c, out)
  return check_outputs(out, c.num_users)


@pytest.mark.slow  # an end-to-end run; the MF one above is the fast path
def test_pipeline_with_ncf(tmp_path):
  check_outputs_after(tmp_path, config(model="ncf", num_users=1, steps=5))


def test_a_bad_setting_is_one_line_before_training(tmp_path):
  with pytest.raises(ValueError, match="unknown model 'nope'"):
    retrain_verify.run(config(model="nope"), tmp_path)
  assert not (tmp_path / "config.json").exists()


def test_cosine_schedule_reaches_the_model_and_bad_schedules_are_refused(tmp_path):
  check_outputs_after(tmp_path, config(schedule="cosine"))
  recorded = json.loads((tmp_path / "config.json").read_text())
  assert recorded["model_hparams"]["schedule"] == "cosine"
  assert recorded["model_hparams"]["decay_steps"] == 10  # decays over the training steps
  with pytest.raises(ValueError, match="schedule='linear' is not one of"):
    retrain_verify.run(config(schedule="linear"), tmp_path / "bad")
  assert not (tmp_path / "bad" / "config.json").exists()
