"""The Table 3 runner (`python -m experiments.table3`) end to end, tiny."""

import json
import os
import pathlib

import pytest

from cfjax import data as cfdata
from cfjax.evaluate import VerifiedRecord, read_jsonl
from experiments import table3, yao_common

FILES = ("config.json", "explanations.jsonl", "rows.csv", "table.md", "table.json")


def tiny_settings(tmp_path, **overrides):
  settings = dict(dataset="movielens", data_dir=None, model="mf", seed=0,
                  output_dir=str(tmp_path / "out"), chunk_size=1, preset="smoke",
                  yao_train_users=4, yao_subsets=3, yao_test_users=2, yao_steps=5, yao_top_n=5,
                  yao_deletion_size=3, yao_deletion_fraction=None, yao_candidates=50,
                  yao_block_size=6, yao_verify_budget=2, yao_verify_per_round=1,
                  yao_verified_surrogate="coupled_reg",
                  yao_surrogates=["lasso_reg", "logreg_clf", "coupled_reg"], yao_mlp_steps=20,
                  yao_heldout_fraction=0.25, yao_influence=False)
  return {**settings, **overrides}


def check(out: pathlib.Path, methods: set, users: int):
  for name in FILES:
    assert (out / name).is_file(), name
  table = json.loads((out / "table.json").read_text())
  assert set(table["methods"]) == methods
  assert all(s["users"] == users for s in table["methods"].values())
  cell = next(c for c in table["cells"] if c["method"] == "lasso_reg" and c["k"] == 1)
  assert cell["paper_percent"] == 82.0
  assert "test_rmse" in json.loads((out / "config.json").read_text())["metrics"]
  assert len(read_jsonl(out / "explanations.jsonl", VerifiedRecord)) == len(methods) * users


def test_runner_on_synthetic_data_resumes(tmp_path, capsys):
  settings = tiny_settings(tmp_path)
  full = cfdata.load("synthetic", num_users=30, num_items=40, density=0.4)
  text = table3.run_model(settings, "mf", full, progress=False)
  assert "ours / paper" in text and "none (noise floor)" in text
  methods = {"lasso_reg", "logreg_clf", "coupled_reg", "knn", "random", "none", "verified"}
  check(tmp_path / "out" / "mf", methods, 2)
  heldout = json.loads((tmp_path / "out" / "mf" / "table.json").read_text())["heldout"]
  assert heldout["lasso_reg"]["users"] == 1 and "accuracy" in heldout["logreg_clf"]
  capsys.readouterr()
  assert table3.run_model(settings, "mf", full, progress=False) == text
  assert "not recomputing" in capsys.readouterr().out


def test_netflix_names_the_missing_file(tmp_path):
  with pytest.raises(FileNotFoundError, match="netflix: missing .*data_small.csv"):
    yao_common.load_dataset("netflix", str(tmp_path))


def _has_ml100k() -> bool:
  root = pathlib.Path(os.environ.get("CFJAX_DATA_DIR", "~/.cache/cfjax")).expanduser()
  return (root / "ml-100k" / "u.data").is_file()


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.skipif(not _has_ml100k(), reason="needs ml-100k under CFJAX_DATA_DIR")
def test_smoke_preset_on_movielens(tmp_path):
  flags = table3.FLAGS
  flags(["table3", "--dataset=movielens", "--preset=smoke", f"--output_dir={tmp_path / 'o'}"])
  try:
    settings = table3.settings_from_flags()
  finally:
    flags.unparse_flags()
  assert settings["yao_train_users"] == 4 and settings["yao_steps"] == 30
  table3.run(settings, progress=False)
  for name in FILES:
    assert (tmp_path / "o" / "mf" / name).is_file()


def test_model_settings_give_ncf_minibatches_unless_flags_say_otherwise(tmp_path):
  base = tiny_settings(tmp_path, preset="default", yao_steps=300, chunk_size=None,
                       yao_batch_size=None)
  ncf = table3.model_settings(base, "ncf")
  assert ncf["yao_batch_size"] == 1246 and ncf["yao_steps"] == 600 and ncf["chunk_size"] == 64
  mf = table3.model_settings(base, "mf")
  assert not mf["yao_batch_size"] and mf["yao_steps"] == 300
  explicit = table3.model_settings({**base, "explicit": ["yao_steps"], "yao_steps": 7}, "ncf")
  assert explicit["yao_steps"] == 7


def test_short_histories_are_counted_and_excluded():
  full = cfdata.load("synthetic", num_users=30, num_items=40, density=0.1)
  note = table3.eligible_note(full, min_history=6)
  counts = full.user_counts
  assert note["excluded_short"] == int((counts < 6).sum()) and "fewer than 6" in note["note"]
