"""Smoke tests of the retrain-verify runner (`python -m experiments.retrain_verify`)."""

import json
import os
import pathlib

import pytest

from cfjax.evaluate import VerifiedRecord, read_jsonl
from experiments import retrain_verify

METHODS = {"knn", "random", "none"}


def settings(tmp_path, **overrides):
  base = dict(dataset="synthetic", data_dir=None, model="mf", num_users=2, steps=10, seed=0,
              deletion_size=3, output_dir=str(tmp_path / "out"), chunk_size=1, preset="default")
  return {**base, **overrides}


def check_outputs(out: pathlib.Path, num_users: int):
  for name in ("config.json", "explanations.jsonl", "rows.csv", "table.md", "table.json"):
    assert (out / name).is_file(), name
  table = json.loads((out / "table.json").read_text())
  assert set(table["methods"]) == METHODS
  assert all(s["users"] == num_users for s in table["methods"].values())
  verified = read_jsonl(out / "explanations.jsonl", VerifiedRecord)
  assert len(verified) == 3 * num_users
  assert "test_rmse" in json.loads((out / "config.json").read_text())["metrics"]


def test_runner_on_synthetic_data_and_resume(tmp_path, capsys):
  config = settings(tmp_path)
  markdown = retrain_verify.run(config, progress=False)
  assert "random (placebo)" in markdown and "valid@10" in markdown
  check_outputs(tmp_path / "out", 2)
  capsys.readouterr()
  assert retrain_verify.run(config, progress=False) == markdown
  assert "not recomputing" in capsys.readouterr().out


def test_runner_with_ncf(tmp_path):
  retrain_verify.run(settings(tmp_path, model="ncf", num_users=1, steps=5), progress=False)
  check_outputs(tmp_path / "out", 1)


def _has_ml100k() -> bool:
  root = pathlib.Path(os.environ.get("CFJAX_DATA_DIR", "~/.cache/cfjax")).expanduser()
  return (root / "ml-100k" / "u.data").is_file()


@pytest.mark.realdata
@pytest.mark.skipif(not _has_ml100k(), reason="needs ml-100k under CFJAX_DATA_DIR")
def test_runner_smoke_preset_on_movielens(tmp_path):
  flags = retrain_verify.FLAGS
  flags(["retrain_verify", "--dataset=movielens-100k", "--preset=smoke",
         f"--output_dir={tmp_path / 'out'}"])
  try:
    config = retrain_verify.settings_from_flags()
  finally:
    flags.unparse_flags()
  assert config["num_users"] == 3 and config["steps"] == 30
  retrain_verify.run(config, progress=False)
  check_outputs(tmp_path / "out", 3)
