"""The LCER Table 2 runner: settings, offline datasets and a tiny end-to-end run."""

import json
import os

import pytest

from experiments import lcer_common


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
