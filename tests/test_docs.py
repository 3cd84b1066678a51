"""The documentation site (mkdocs.yml, docs/, the API reference rendered from the docstrings)
builds with `mkdocs build --strict`: a broken link, a page missing from the nav, a docstring
parameter that is not in the signature or a bad docstring indentation fails the suite."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_mkdocs_builds_strict(tmp_path):
  try:
    import mkdocs  # noqa: F401
    import mkdocstrings_handlers.python  # noqa: F401
  except ImportError as error:
    pytest.fail(f"{error}: the docs packages are part of the test extra; "
                "pip install -e '.[test]'")
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
  result = subprocess.run(
      [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site"),
       "--config-file", str(ROOT / "mkdocs.yml")],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
  assert result.returncode == 0 and not warnings, "\n".join(warnings) or result.stderr[-3000:]
  api = tmp_path / "site" / "api"
  for page in ("cfjax", "data", "models", "train", "explain", "evaluate", "pipeline", "papers",
               "workflows"):
    html = (api / page / "index.html").read_text()
    assert "doc-function" in html or "doc-class" in html, f"api/{page} rendered no members"
  reference = (api / "data" / "index.html").read_text()
  assert "from_pandas" in reference  # a docstring of cfjax.data reached the page
