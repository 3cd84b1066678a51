"""Yao et al.'s Tables 3 and 2 and ablations (`cfjax.papers.yao`), tiny, end to end."""

import json
import pathlib

import numpy as np
import pytest

from cfjax import data as cfdata
from cfjax.papers import yao
from cfjax.papers.yao import preparation, table3
from cfjax.records import Explanation, VerifiedRecord, read_jsonl
from cfjax.experiments.configs import ablations as ablations_config
from cfjax.experiments.configs import table2 as table2_config
from cfjax.experiments.configs import table3 as table3_config
from tests.conftest import needs_data

FILES = ("config.json", "explanations.jsonl", "rows.csv", "table.md", "table.json")
METHODS = {"lasso_reg", "logreg_clf", "coupled_reg", "knn", "random", "none", "verified"}


def tiny(config):
  """Shrinks a Table 3-shaped config to seconds: 4 x 3 simulated retrains of 5 steps, 2 test
  users. The dataset stays MovieLens (its paper values), the data is `synthetic_data`."""
  config.dataset = "movielens"
  config.train_users, config.subsets, config.test_users, config.top_n = 4, 3, 2, 5
  config.models.mf.steps = config.models.ncf.steps = 5
  config.candidates, config.block_size, config.verify_per_round = 50, 6, 1
  config.fit.mlp_steps = 20
  config.heldout_fraction = 0.25
  config.influence = False
  config.chunk_size = 1
  config.cache_dir = None
  return config


def tiny_table3():
  config = tiny(table3_config.get_config("smoke"))
  config.surrogates = ("lasso_reg", "logreg_clf", "coupled_reg")
  return config


def tiny_table2():
  return tiny(table2_config.get_config("smoke"))


@pytest.fixture
def synthetic_data(monkeypatch):
  """The pipelines load 30 users x 40 items of synthetic data instead of the config's."""
  full = cfdata.load("synthetic", num_users=30, num_items=40, density=0.4)
  monkeypatch.setattr(preparation, "load", lambda config: full)
  return full


@pytest.fixture
def table3_run(tmp_path, synthetic_data):
  """A finished tiny Table 3 (MF) in tmp_path/t3."""
  yao.run_table3(tiny_table3(), tmp_path / "t3", progress=False)
  return tmp_path / "t3"


@pytest.mark.slow
def test_table3_writes_each_model_and_a_combined_table_then_reuses_them(table3_run,
                                                                        monkeypatch):
  out = table3_run / "mf"
  for name in FILES:
    assert (out / name).is_file(), name
  table = json.loads((out / "table.json").read_text())
  assert set(table["methods"]) == METHODS and table["dataset"] == "movielens-100k"
  assert all(s["users"] == 2 for s in table["methods"].values())
  cell = next(c for c in table["cells"] if c["method"] == "lasso_reg" and c["k"] == 1)
  assert cell["paper_percent"] == 82.0
  assert table["heldout"]["lasso_reg"]["users"] == 1 and "accuracy" in table["heldout"][
      "logreg_clf"]
  config = json.loads((out / "config.json").read_text())
  assert config["model_hparams"]["global_mean"] > 0 and config["eligibility"]["min_history"] == 6
  assert config["verify_seeds"] == [1] and "test_rmse" in config["metrics"]
  verified = read_jsonl(out / "explanations.jsonl", VerifiedRecord)
  assert len(verified) == len(METHODS) * 2
  placebo = [v.explanation for v in verified if v.explanation.method == "random"]
  assert all(len(r.deleted_items) == 3 for r in placebo)
  combined = json.loads((table3_run / "table.json").read_text())
  assert combined["models"]["mf"] == table
  text = (table3_run / "table.md").read_text()
  assert "## movielens-100k / mf (5 steps, batch full)" in text and "none (noise floor)" in text

  def fail(*args, **kwargs):
    raise AssertionError("a finished run was recomputed")

  monkeypatch.setattr(table3, "prepare", fail)
  assert yao.run_table3(tiny_table3(), table3_run, progress=False)["models"]["mf"] == table


@pytest.mark.slow
def test_table2_times_both_ways_on_the_table3_simulation(table3_run, tmp_path):
  config = tiny_table2()
  config.table3_dir = str(table3_run)
  table = yao.run_table2(config, tmp_path / "t2", progress=False)
  assert set(table["methods"]) == {"knn", "lasso_reg", "mlp_reg"}
  assert all(t["same_choice"] == 1.0 and t["one_at_a_time_s"] > 0 and t["pairs"] == 2
             for t in table["methods"].values())
  assert table["methods"]["lasso_reg"]["paper_s"] == 1.75
  assert table["methods"]["mlp_reg"]["fit_s"] > 0 and table["methods"]["knn"]["fit_s"] is None
  assert table["scale"]["simulation"] == str(table3_run / "mf" / "simulation")
  assert not (tmp_path / "t2" / "simulation").exists()
  timed = read_jsonl(tmp_path / "t2" / "explanations.jsonl", Explanation)
  explained = read_jsonl(table3_run / "mf" / "explanations.jsonl", VerifiedRecord)
  choices = lambda records, method: [r.deleted_items for r in records if r.method == method]
  for method in ("lasso_reg", "knn"):  # the same state explains the same way
    assert choices(timed, method) == choices([v.explanation for v in explained], method)


def test_table2_refuses_a_table3_run_made_with_other_settings(tmp_path, synthetic_data,
                                                              monkeypatch):
  store = tmp_path / "t3" / "mf" / "simulation"
  store.mkdir(parents=True)
  (store / "manifest.json").write_text(json.dumps({"fingerprint": "another plan"}))
  (tmp_path / "t3" / "mf" / "table.json").write_text("{}")
  config = tiny_table2()
  config.table3_dir = str(tmp_path / "t3")

  def fail(*args, **kwargs):
    raise AssertionError("trained before checking the store")

  monkeypatch.setattr(preparation, "original_context", fail)
  with pytest.raises(ValueError, match="simulation made with other settings"):
    yao.run_table2(config, tmp_path / "t2", progress=False)


def test_table2_refuses_a_directory_without_a_finished_table3(tmp_path):
  config = tiny_table2()
  config.table3_dir = str(tmp_path)
  with pytest.raises(ValueError, match="no finished Table 3 run"):
    yao.run_table2(config, tmp_path / "t2", progress=False)


@pytest.mark.slow
def test_ablations_run_each_variant_and_summarise_beside_sec_6_3(tmp_path, synthetic_data):
  config = tiny(ablations_config.get_config("smoke"))
  config.variants.targets.surrogates = ("lasso_reg", "lasso_rank")
  result = yao.run_ablations(config, tmp_path / "ab", progress=False)
  rows = {(r["variant"], r["surrogate"]): r for r in result["rows"]}
  assert rows[("targets", "Linear Surrogate (reg)")]["paper K=1 (sec. 6.3)"] == "82%"
  assert rows[("targets", "Linear Surrogate (rank, eq. 11)")]["paper K=1 (sec. 6.3)"] == "80.5%"
  assert rows[("fraction", "Linear Surrogate (reg)")]["paper K=1 (sec. 6.3)"] == "77.5%"
  assert rows[("fraction", "none (noise floor)")]["paper K=1 (sec. 6.3)"] == "-"
  fraction = json.loads((tmp_path / "ab" / "fraction" / "mf" / "config.json").read_text())
  assert fraction["config"]["deletion_fraction"] == 0.4 and "variants" not in fraction["config"]
  assert "wall time: targets" in (tmp_path / "ab" / "table.md").read_text()


def test_model_settings_give_ncf_minibatches_and_a_paired_verification():
  config = table3_config.get_config("default")
  ncf, mf = yao.model_settings(config, "ncf"), yao.model_settings(config, "mf")
  assert (ncf.batch_size, ncf.steps, ncf.chunk_size, ncf.seed_offset) == (1246, 600, 64, 0)
  assert ncf.hparams == {"weight_decay": 1e-4, "learning_rate": 1e-2}
  assert (mf.batch_size, mf.steps, mf.chunk_size, mf.seed_offset) == (None, 300, 1, 1)
  config.chunk_size = 8
  config.models.ncf.steps = 7
  assert yao.model_settings(config, "mf").chunk_size == 8
  assert yao.model_settings(config, "ncf").steps == 7
  paper = table3_config.get_config("paper")
  assert [yao.model_settings(paper, m).steps for m in ("mf", "ncf")] == [600, 3000]


def test_short_histories_are_counted_and_excluded():
  full = cfdata.load("synthetic", num_users=30, num_items=40, density=0.1)
  note = yao.eligibility_note(full, min_history=6)
  assert note["excluded_short"] == int((full.user_counts < 6).sum()) > 0
  assert "fewer than 6" in note["note"]
  config = table3_config.get_config("smoke")
  assert yao.min_history_of(config) == 6
  config.deletion_fraction = 0.25  # two items per deletion need 8 history items
  assert yao.min_history_of(config) == 8


def test_setup_samples_test_users_apart_from_the_simulated_ones():
  full = cfdata.load("synthetic", num_users=30, num_items=40, density=0.4)
  config = tiny_table3()
  config.test_users = 10
  s = yao.setup(config, "mf", full)
  assert len(s.train_users) == 4 and len(s.test_users) == 10
  assert not set(s.train_users) & set(s.test_users)
  assert s.record["scale"]["paper"]["train_users"] == 200 and s.dataset == "movielens-100k"
  paper = tiny_table3()
  paper.train_users = None  # the paper's count for the dataset
  with pytest.raises(ValueError, match="200 asked for"):
    yao.setup(paper, "mf", full)


@pytest.mark.parametrize("field, value, message", [
    ("model", "rcf", "not in Yao et al.'s Table 3"),
    ("surrogates", ("lasso_reg", "ridge"), "unknown surrogate 'ridge'"),
    ("verified_surrogate", "lasso_rank", "not in surrogates"),
    ("heldout_fraction", 1.0, "must lie in \\(0, 1\\)"),
    ("deletion_fraction", 1.5, "must lie in \\(0, 1\\)"),
    ("train_users", 1, "must be >= 2"),
    ("test_users", 0, "must be >= 1"),
])
def test_impossible_settings_fail_in_one_line(field, value, message):
  config = table3_config.get_config("smoke")
  config[field] = value
  with pytest.raises(ValueError, match=message):
    yao.check_config(config)


class TestRealData:
  pytestmark = needs_data("ml-100k", "u.data")

  @pytest.mark.slow
  def test_smoke_preset_on_movielens_reproduces_the_old_runner(self, tmp_path):
    config = table3_config.get_config("smoke")
    config.dataset = "movielens"
    config.cache_dir = None
    table = yao.run_table3(config, tmp_path, progress=False)["models"]["mf"]
    validity = {m: [round(s["validity"][k], 3) for k in yao.KS]
                for m, s in table["methods"].items()}
    # the numbers of the runner before the redesign (experiments/table3.py, smoke preset)
    assert validity["lasso_reg"] == [1.0, 0.333, 0.333]
    assert validity["knn"] == [1.0, 1.0, 0.667]
    assert validity["none"] == [1.0, 0.333, 0.333]
    assert table["verified_cost"]["found"] == 3
    assert np.isclose(table["heldout"]["lasso_reg"]["r2"], -0.19579, atol=1e-4)
    for name in FILES:
      assert (pathlib.Path(tmp_path) / "mf" / name).is_file()


def test_table3_compares_with_the_paper_only_from_ten_users():
  """On 3 users "100.0 % / 82 %" would read as a finding: the paper's value is left out."""
  def table(users):
    validity = {k: 1.0 for k in preparation.KS}
    return {"methods": {"lasso_reg": {"users": users, "validity": validity}},
            "cells": [{"method": "lasso_reg", "k": k, "paper_percent": 82.0}
                      for k in preparation.KS],
            "heldout": {}, "warnings": [], "verified_cost": None}
  few = table3.table3_markdown(table(3), verify_budget=0)
  assert "100.0% / n = 3: no paper comparison" in few and "82" not in few
  assert "100.0% / 82.0%" in table3.table3_markdown(table(12), verify_budget=0)
