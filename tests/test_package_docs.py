"""Every package's docstring names each of its modules, so `help(cfjax.<package>)` is a map
of the package and a new module cannot land unannounced (docs/architecture.md draws the same
tree)."""

import ast
import pathlib
import re

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "cfjax"


def unnamed_modules(package: pathlib.Path) -> list[str]:
  """The modules and subpackages of `package` (a folder with __init__.py) that its
  docstring does not name (as a whole word, with or without `.py`)."""
  docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
  members = sorted([p.stem for p in package.glob("*.py") if not p.stem.startswith("_")]
                   + [p.name for p in package.iterdir() if (p / "__init__.py").is_file()])
  return [name for name in members
          if not re.search(rf"(?<![\w.]){re.escape(name)}(\.py)?(?!\w)", docstring)]


PACKAGES = sorted(p.parent for p in PACKAGE.rglob("__init__.py"))


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_the_package_docstring_names_each_of_its_modules(package):
  assert unnamed_modules(package) == [], (
      f"{package.relative_to(PACKAGE.parent)}/__init__.py's docstring should name these "
      "modules (one line each: what they hold)")


def test_the_check_can_fail(tmp_path):
  (tmp_path / "__init__.py").write_text('"""Holds alpha.py and the beta_gamma helpers."""\n')
  for name in ("alpha", "beta", "beta_gamma", "delta"):
    (tmp_path / f"{name}.py").write_text("")
  assert unnamed_modules(tmp_path) == ["beta", "delta"]
