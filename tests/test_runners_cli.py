"""The runners behind `cfjax <runner>`: every runner module is listed, shimmed in the clone and
configured; `cfjax <runner>` is the runner (its one-line errors); `cfjax --help` lists them and
`cfjax explain --help` names the registered choices; one default cache folder."""

import os
import pathlib
import subprocess
import sys

import pytest

from cfjax import data as cfdata
from cfjax.cli import main, parser, with_runners
from cfjax.experiments import RUNNERS, run
from cfjax.experiments.configs import accent_table1, benchmark, lcer_table2, table3
from cfjax.workflows import explain_user

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cfjax" / "experiments"


def stems(folder: pathlib.Path) -> set[str]:
  return {p.stem for p in folder.glob("*.py") if p.stem not in ("__init__", "cli")}


def test_every_runner_is_listed_shimmed_and_configured():
  assert set(RUNNERS) == stems(PACKAGE)
  assert stems(ROOT / "experiments") == stems(PACKAGE)
  assert stems(PACKAGE / "configs") == stems(PACKAGE)


def test_cfjax_help_lists_the_runners():
  text = with_runners(parser()).format_help()
  assert all(name in text for name in ("explain", *RUNNERS))


def test_explain_help_names_the_registered_choices(capsys):
  with pytest.raises(SystemExit) as done:
    main(["explain", "--help"])
  assert done.value.code == 0
  text = capsys.readouterr().out
  for kind in ("datasets:", "models:", "methods:"):
    assert kind in text
  assert "movielens-100k" in text and "ncf" in text and "accent" in text


def test_an_unknown_runner_is_one_line():
  with pytest.raises(ValueError, match="unknown runner 'table9'; choose one of table3"):
    run("table9", [])


def test_cfjax_runner_is_the_runner(tmp_path):
  """`cfjax retrain_verify` reaches the runner: its own one-line error for a bad preset."""
  env = {**os.environ, "CFJAX_NO_DOWNLOAD": "1", "JAX_PLATFORMS": "cpu"}
  done = subprocess.run([sys.executable, "-m", "cfjax", "retrain_verify", "--preset=nope",
                         f"--output_dir={tmp_path / 'out'}"], cwd=tmp_path, env=env,
                        capture_output=True, text=True, timeout=300)
  assert done.returncode != 0 and "Traceback" not in done.stderr
  assert done.stderr.strip().splitlines()[-1].startswith(
      "retrain_verify: error: unknown preset 'nope'")
  assert not (tmp_path / "out").exists() and not (tmp_path / "results").exists()


def test_one_default_cache_folder(monkeypatch, tmp_path):
  monkeypatch.setenv("CFJAX_CACHE_DIR", str(tmp_path))
  assert cfdata.default_cache_dir() == str(tmp_path / "originals")
  assert explain_user.default_cache_dir() == str(tmp_path / "originals")
  for config in (table3, accent_table1, benchmark):
    assert config.get_config("smoke").cache_dir == str(tmp_path / "originals")
  assert lcer_table2.get_config("smoke").cache_dir == str(tmp_path / "lcer")
  monkeypatch.delenv("CFJAX_CACHE_DIR")
  home = pathlib.Path("~/.cache/cfjax/originals").expanduser()
  assert cfdata.default_cache_dir() == str(home)
