"""The LCER pipelines (Tables 2-3, the sweep): configs, checks, reuse and caches, figures."""

import json
import math
import os
import pathlib
import re
import subprocess
import sys

import pytest

from cfjax.papers import lcer
from cfjax.papers.lcer.preparation import NOT_RUNNABLE
from cfjax.papers.published import LCER_LAMBDA_ALPHA, LCER_TABLE1, LCER_TABLE2
from cfjax.experiments.configs import lcer_sweep, lcer_table2, lcer_table3
from tests.conftest import needs_data

QUIET = lambda *_: None
ROOT = pathlib.Path(__file__).resolve().parents[2]
FILES = ("config.json", "explanations.jsonl", "rows.csv", "table.md", "table.json")


def test_presets_keep_the_old_values():
  for preset, values in (("smoke", (20, 10, 300, 10)), ("default", (200, 100, 3000, 30)),
                         ("paper", (200, 100, 3000, 30))):
    for module in (lcer_table2, lcer_table3, lcer_sweep):
      config = module.get_config(preset)
      assert (config.epochs, config.num_users, config.steps, config.kaffes_expansions) == values
      assert config.lam is None and config.alpha is None and config.seed == 0
  assert lcer_table2.get_config("smoke").ks == (5, 10)
  assert lcer_table3.get_config("smoke").lambdas == (0.01, 0.03, 0.05)
  assert lcer_table3.get_config("paper").lambdas == (0.01, 0.02, 0.03, 0.04, 0.05)
  assert lcer_sweep.get_config("smoke").alphas == (0.02, 0.04, 0.06, 0.08, 0.1)
  with pytest.raises(ValueError, match="unknown preset 'huge'"):
    lcer_table2.get_config("huge")


def test_resolve_fills_in_the_dataset_and_the_papers_lambda_alpha():
  config = lcer_table2.get_config("smoke")
  config.dataset = "ML-1M"
  resolved = lcer.resolve(config)
  assert resolved.dataset == "ml-1m" and resolved.heldout_users == 500
  assert (resolved.lam, resolved.alpha) == LCER_LAMBDA_ALPHA["ml-1m"]
  config.dataset, config.lam = "ml-100k", 0.05
  resolved = lcer.resolve(config)
  assert resolved.dataset == "movielens-100k" and resolved.heldout_users == 100
  assert (resolved.lam, resolved.alpha) == (0.05, LCER_LAMBDA_ALPHA["movielens-100k"][1])
  assert config.lam == 0.05 and config.dataset == "ml-100k"  # the given config is unchanged


BAD = [("dataset", "alishop", "Alishop: its training split \\(train.csv\\) was not found"),
       ("dataset", "Epinions", "Epinions loads .* the runner's Mult-VAE split is dense"),
       ("dataset", "netflix", "LCER runs on ml-100k or ml-1m"),
       ("lam", math.nan, "config.lam=nan must be a finite number >= 0"),
       ("alpha", -0.1, "config.alpha=-0.1 must be a finite number >= 0"),
       ("steps", 0, "config.steps=0 must be an integer >= 1"),
       ("num_users", 0, "config.num_users=0 must be an integer >= 1"),
       ("epochs", 0, "config.epochs=0 must be an integer >= 1"),
       ("lambdas", (0.01, math.nan), "each of config.lambdas=nan"),
       ("lambdas", (), "config.lambdas is empty")]


PIPELINES = [(lcer_table2, lcer.run_table2), (lcer_table3, lcer.run_table3),
             (lcer_sweep, lcer.run_sweep)]


@pytest.mark.parametrize("module, run, field, value, message", [
    (module, run, *bad) for module, run in PIPELINES for bad in BAD
    if bad[0] in module.get_config("smoke")])
def test_bad_settings_fail_in_one_line_before_any_work(tmp_path, monkeypatch, module, run,
                                                       field, value, message):
  monkeypatch.setenv("CFJAX_NO_DOWNLOAD", "1")
  config = module.get_config("smoke")
  config.data_dir = str(tmp_path / "no-data")  # loading first would fail with another message
  config[field] = value
  with pytest.raises(ValueError, match=message) as error:
    run(config, tmp_path / "out", progress=QUIET)
  assert "\n" not in str(error.value)
  assert not (tmp_path / "out").exists()


def test_unknown_methods_are_refused():
  config = lcer_table2.get_config("smoke")
  config.methods = ("fia", "lime")
  with pytest.raises(ValueError, match="subset of fia, kaffes, accent, lcer"):
    lcer.resolve(config)


def test_runner_says_offline_datasets_are_unavailable_in_one_line():
  """One runner as a subprocess (the CLI's one-line error); every pipeline in-process
  (`test_pipelines_refuse_offline_datasets_before_any_work`): they share `resolve`."""
  runner = "lcer_table3"
  run = subprocess.run([sys.executable, "-m", f"experiments.{runner}", "--dataset=epinions",
                        "--preset=smoke"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
  assert run.returncode == 1
  assert run.stderr.strip().splitlines()[-1] == (
      f"{runner}: error: {NOT_RUNNABLE['epinions']} (--verbose for a traceback)")


@pytest.mark.parametrize("module, run", PIPELINES)
def test_pipelines_refuse_offline_datasets_before_any_work(tmp_path, module, run):
  config = module.get_config("smoke")
  config.dataset = "epinions"
  with pytest.raises(ValueError, match=f"^{re.escape(NOT_RUNNABLE['epinions'])}$"):
    run(config, tmp_path / "out", progress=QUIET)
  assert not (tmp_path / "out").exists()


def test_table3_picks_the_closest_length():
  grid = {0.01: {"length": 5.7}, 0.02: {"length": 4.1}, 0.03: {"length": 3.3},
          0.05: {"length": None}}
  assert lcer.closest(grid, 3.45) == 0.03
  assert lcer.closest(grid, 4.9) == 0.01  # tie: the smaller lambda
  assert lcer.closest(grid, None) is None
  assert lcer.closest({0.05: {"length": None}}, 2.0) is None


def tiny(module, tmp_path, **overrides):
  """A seconds-long config on the synthetic dataset (5 test users, 2 explained)."""
  config = module.get_config("smoke")
  config.update(dict(dataset="synthetic", heldout_users=5, lam=0.01, alpha=0.1, epochs=2,
                     num_users=2, steps=20, kaffes_expansions=2,
                     cache_dir=str(tmp_path / "cache")))
  config.update(overrides)
  return config


def test_tables_and_sweep_reuse_table2_and_the_cache(tmp_path):
  """Table 2, then Table 3 and the sweep reusing its records and each other's grid points
  (~20 s on two idle CPU cores: Mult-VAE training and two LCER compiles)."""
  table2 = lcer.run_table2(tiny(lcer_table2, tmp_path, ks=(5,)), tmp_path / "t2",
                           progress=QUIET)
  assert all((tmp_path / "t2" / name).is_file() for name in FILES)
  assert set(table2["metrics"]) == {"fia@5", "kaffes@5", "accent@5", "lcer@5"}
  assert [row[0] for row in table2["rows"]] == ["FIA", "KaffesCE", "Accent", "LCER"]
  assert all(m["pairs"] == 10 for m in table2["metrics"].values())  # 2 users x top-5
  said = []
  assert lcer.run_table2(tiny(lcer_table2, tmp_path, ks=(5,)), tmp_path / "t2",
                         progress=said.append) == table2
  assert said == [f"reusing the finished run in {tmp_path / 't2'}"]

  table3 = lcer.run_table3(tiny(lcer_table3, tmp_path, lambdas=(0.01, 0.05),
                                table2_dir=str(tmp_path / "t2")), tmp_path / "t3",
                           progress=QUIET)
  assert table3["sources"] == {"kaffes": "table2", "accent": "table2",
                               "lcer@lambda=0.01": "table2", "lcer@lambda=0.05": "computed"}
  assert [row[1] for row in table3["rows"]] == ["KaffesCE", "LCER", "Accent", "LCER"]
  assert table3["lcer_grid"]["0.01"] == table2["metrics"]["lcer@5"]
  assert len(list((tmp_path / "cache").glob("lcer-synthetic-k5-*.jsonl"))) == 2

  sweep = lcer.run_sweep(tiny(lcer_sweep, tmp_path, lambdas=(0.05,), alphas=(0.1,),
                              table2_dir=str(tmp_path / "t2")), tmp_path / "sweep",
                         progress=QUIET)
  assert [(r["lam"], r["alpha"], r["source"]) for r in sweep["rows"]] == [
      (0.05, 0.1, "cache"), (0.01, 0.1, "cache")]
  assert [b["param"] for b in sweep["baselines"]] == ["baseline:fia", "baseline:kaffes",
                                                      "baseline:accent"]
  assert {f: sweep["rows"][0][f] for f in lcer.METRIC_FIELDS} == {
      f: table3["lcer_grid"]["0.05"][f] for f in lcer.METRIC_FIELDS}
  csv = (tmp_path / "sweep" / "sweep.csv").read_text().splitlines()
  assert csv[0] == ",".join(lcer.SWEEP_FIELDS) and len(csv) == 1 + 2 + 3

  # Other LCER settings are other cache entries; the baselines do not depend on them.
  table3 = lcer.run_table3(tiny(lcer_table3, tmp_path, lambdas=(0.01,), steps=21,
                                table2_dir=str(tmp_path / "t2")), tmp_path / "t3b",
                           progress=QUIET)
  assert table3["sources"] == {"kaffes": "table2", "accent": "table2",
                               "lcer@lambda=0.01": "computed"}
  config = json.loads((tmp_path / "t3b" / "config.json").read_text())
  assert config["metrics"]["mult_vae_loaded"] and config["prepared"]["num_users"] == 2


def _sweep_rows():
  """A hand-built sweep: two points per arm (one with no CE found) and three baselines."""
  metrics = lambda v, l, ps, pn: {"validity": v, "length": l, "ps": ps, "pn": pn,
                                  "f_ns": None if ps is None else (ps + pn) / 2}
  rows = [{"param": "lambda", "lam": 0.01, "alpha": 0.1, **metrics(1.0, 5.7, 0.58, 0.64)},
          {"param": "lambda", "lam": 0.05, "alpha": 0.1, **metrics(0.0, None, None, None)},
          {"param": "alpha", "lam": 0.01, "alpha": 0.02, **metrics(0.99, 4.5, 0.52, 0.5)},
          {"param": "alpha", "lam": 0.01, "alpha": 0.1, **metrics(1.0, 5.7, 0.58, 0.64)}]
  baselines = [{"param": "baseline:fia", **metrics(None, 1.0, 0.9, 0.9)},
               {"param": "baseline:kaffes", **metrics(0.99, 3.4, 0.49, 1.0)},
               {"param": "baseline:accent", **metrics(0.92, 3.7, 0.38, 0.56)}]
  return rows, baselines


def test_sweep_figures_are_pngs(tmp_path):
  pytest.importorskip("matplotlib")
  rows, baselines = _sweep_rows()
  paths = lcer.plot_sweep(rows, tmp_path, baselines, progress=QUIET)
  assert [p.name for p in paths] == ["sweep_lambda.png", "sweep_alpha.png"]
  for path in paths:
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
  only_alpha = [r for r in rows if r["param"] == "alpha"]  # an arm without rows: no figure
  assert lcer.plot_sweep(only_alpha, tmp_path / "alpha", progress=QUIET) == [
      tmp_path / "alpha" / "sweep_alpha.png"]


def test_sweep_best_baselines_leave_out_fia():
  best = lcer.best_baselines(_sweep_rows()[1])
  assert best == pytest.approx({"validity": 0.99, "ps": 0.49, "pn": 1.0, "f_ns": 0.745})


def test_sweep_figures_skipped_without_matplotlib(tmp_path, monkeypatch):
  for name in ("matplotlib", "matplotlib.figure"):
    monkeypatch.setitem(sys.modules, name, None)  # makes the import raise ImportError
  said = []
  assert lcer.plot_sweep(_sweep_rows()[0], tmp_path, progress=said.append) == []
  assert said == ["matplotlib is not installed: figures skipped (to get them: "
                  "pip install -e '.[plot]')"]
  assert not list(tmp_path.iterdir())


@pytest.mark.slow
class TestMovieLens100K:
  pytestmark = needs_data("ml-100k", "u.data")

  def test_tiny_table2_on_the_real_split(self, tmp_path):
    config = lcer_table2.get_config("smoke")
    config.update(dict(dataset="ml-100k", data_dir=os.environ["CFJAX_DATA_DIR"], epochs=2,
                       num_users=2, steps=20, kaffes_expansions=2, ks=(5,),
                       cache_dir=str(tmp_path / "cache")))
    table = lcer.run_table2(config, tmp_path / "out", progress=QUIET)
    counts = table["counts"]
    assert (counts["users"], counts["items"], counts["interactions"]) == (
        LCER_TABLE1["movielens-100k"])
    assert all(m["pairs"] == 10 for m in table["metrics"].values())
    assert [row[7:] for row in table["rows"]] == [
        list(LCER_TABLE2[("movielens-100k", m, 5)]) for m in ("fia", "kaffes", "accent", "lcer")]
