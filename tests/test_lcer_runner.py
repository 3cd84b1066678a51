"""The LCER runners (Tables 2-3, the sweep): settings, offline datasets, tiny end-to-end runs,
the sweep's figures."""

import json
import os
import sys

import pytest

from experiments import lcer_common, lcer_sweep, lcer_table3


def test_settings_use_paper_hyperparameters():
  s = lcer_common.settings(dataset="ml-1m", preset="smoke")
  assert (s["lam"], s["alpha"]) == (0.02, 0.04)
  s = lcer_common.settings(dataset="ml-100k", preset="default", lam=0.05)
  assert (s["lam"], s["alpha"], s["steps"]) == (0.05, 0.1, 3000)
  with pytest.raises(ValueError, match="preset"):
    lcer_common.settings(dataset="ml-100k", preset="huge")
  with pytest.raises(ValueError, match="dataset"):
    lcer_common.canonical_dataset("netflix")
  assert lcer_common.canonical_dataset("Epinions") == "epinions"


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("CFJAX_DATA_DIR"), reason="needs CFJAX_DATA_DIR")
def test_tiny_run_writes_results(tmp_path):
  s = lcer_common.settings(dataset="ml-100k", preset="smoke", num_users=2, steps=20,
                           kaffes_expansions=2)
  s["epochs"] = 2
  table = lcer_common.run_table2(s, tmp_path, progress=lambda *_: None)
  for name in ("config.json", "explanations.jsonl", "rows.csv", "table.md", "table.json"):
    assert (tmp_path / name).is_file()
  assert json.loads((tmp_path / "table.json").read_text())["rows"] == table["rows"]
  assert lcer_common.run_table2(s, tmp_path, progress=lambda *_: None) == table


def test_table3_picks_the_closest_length():
  grid = {0.01: {"length": 5.7}, 0.02: {"length": 4.1}, 0.03: {"length": 3.3},
          0.05: {"length": None}}
  assert lcer_table3.closest(grid, 3.45) == 0.03
  assert lcer_table3.closest(grid, 4.9) == 0.01  # tie: the smaller lambda
  assert lcer_table3.closest(grid, None) is None
  assert lcer_table3.closest({0.05: {"length": None}}, 2.0) is None


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("CFJAX_DATA_DIR"), reason="needs CFJAX_DATA_DIR")
def test_tiny_table3_and_sweep_reuse_table2(tmp_path):
  s = lcer_common.settings(dataset="ml-100k", preset="smoke", num_users=2, steps=20,
                           kaffes_expansions=2)
  s["epochs"] = 2
  quiet = lambda *_: None
  lcer_common.run_table2(s, tmp_path / "t2", progress=quiet)
  cache = tmp_path / "cache"
  table = lcer_table3.run_table3(s, tmp_path / "t3", lambdas=[0.01, 0.05],
                                 table2_dir=tmp_path / "t2", cache_root=cache, progress=quiet)
  for name in ("config.json", "explanations.jsonl", "rows.csv", "table.md", "table.json"):
    assert (tmp_path / "t3" / name).is_file()
  assert table["sources"]["kaffes"] == table["sources"]["accent"] == "table2"
  assert table["sources"]["lcer@lambda=0.01"] == "table2"
  assert table["sources"]["lcer@lambda=0.05"] == "computed"
  assert [r[1] for r in table["rows"]] == ["KaffesCE", "LCER", "Accent", "LCER"]
  assert lcer_table3.run_table3(s, tmp_path / "t3", lambdas=[0.01, 0.05], table2_dir=tmp_path / "t2",
                                cache_root=cache, progress=quiet) == table
  rows, baselines = lcer_sweep.sweep(s, [0.05], [0.1], 5, table2_dir=tmp_path / "t2",
                                     cache_root=cache, progress=quiet)
  assert [r["source"] for r in rows] == ["cache", "cache"]  # (0.05, 0.1) and (0.01, 0.1)
  assert {b["param"] for b in baselines} == {"baseline:fia", "baseline:kaffes", "baseline:accent"}


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
  paths = lcer_sweep.plot_sweep(rows, tmp_path, baselines, progress=lambda *_: None)
  assert [p.name for p in paths] == ["sweep_lambda.png", "sweep_alpha.png"]
  for path in paths:
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
  (tmp_path / "alpha").mkdir()
  only_alpha = [r for r in rows if r["param"] == "alpha"]  # an arm without rows: no figure
  assert lcer_sweep.plot_sweep(only_alpha, tmp_path / "alpha") == [
      tmp_path / "alpha" / "sweep_alpha.png"]


def test_sweep_best_baselines_leave_out_fia():
  best = lcer_sweep.best_baselines(_sweep_rows()[1])
  assert best == pytest.approx({"validity": 0.99, "ps": 0.49, "pn": 1.0, "f_ns": 0.745})


def test_sweep_figures_skipped_without_matplotlib(tmp_path, monkeypatch):
  for name in ("matplotlib", "matplotlib.figure"):
    monkeypatch.setitem(sys.modules, name, None)  # makes the import raise ImportError
  said = []
  assert lcer_sweep.plot_sweep(*_sweep_rows()[:1], tmp_path, progress=said.append) == []
  assert len(said) == 1 and "skipped" in said[0] and "pip install -e '.[plot]'" in said[0]
  assert not list(tmp_path.iterdir())
