"""The tutorials (docs/tutorials/*.py, rendered in the docs) run, on tiny synthetic data, and
print what they promise."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "docs" / "tutorials"


def run(script: str) -> str:
  env = dict(os.environ, CFJAX_TUTORIAL_TINY="1", PYTHONPATH=os.pathsep.join(
      [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
  result = subprocess.run([sys.executable, str(TUTORIALS / script)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  return result.stdout


def test_every_tutorial_is_tested_and_rendered():
  scripts = sorted(path.stem for path in TUTORIALS.glob("*.py"))
  tested = ["add_model_and_explainer", "explain_a_user", "results_in_pandas", "your_own_data"]
  assert scripts == tested
  for name in scripts:
    assert f'--8<-- "docs/tutorials/{name}.py"' in (TUTORIALS / f"{name}.md").read_text()


def test_explain_a_user():
  lines = run("explain_a_user.py").splitlines()
  assert lines[0].startswith("user 7: item ") and "deleting [" in lines[0]
  methods = [line.split(":")[0].strip() for line in lines[1:]]
  assert methods == ["knn", "random", "none"]
  assert lines[3].endswith("new rank 1 (left the top-1: False)")  # nothing deleted: stays


def test_your_own_data_speaks_raw_ids():
  out = run("your_own_data.py")
  assert "30 users, 50 items, 360 rows" in out
  assert "had user-007 not rated [Product " in out and "(sku-" in out


def test_add_model_and_explainer():
  lines = run("add_model_and_explainer.py").splitlines()
  assert [line.split()[0] for line in lines] == ["most_recent"] * 2 + ["knn"] * 2


def test_results_in_pandas():
  out = run("results_in_pandas.py")
  assert "left_top_1" in out and "validity" in out
  assert out.count("knn") == 2 and out.count("random") == 2
