"""The package's layers point one way: no module imports a module of a higher layer.

Read statically from every module's `import` statements (`ast`), so the shape holds even for
imports placed inside functions.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "cfjax"

# Lowest first. A module may import modules of its own layer or of lower layers only.
LAYERS = (
    ("version", "types", "util", "records", "registry"),
    ("data",),
    ("models",),
    ("rank",),
    ("train",),
    ("influence", "simulate"),
    ("explain",),
    ("evaluate",),
    ("pipeline",),
    ("papers",),
    ("workflows",),
    ("experiments",),
    ("cli", "__main__"),
)
LEVEL = {name: level for level, names in enumerate(LAYERS) for name in names}


def top_level(module: str) -> str | None:
  """'cfjax.explain.base' -> 'explain'; the package root itself -> None."""
  parts = module.split(".")
  return parts[1] if parts[0] == "cfjax" and len(parts) > 1 else None


def imports_of(path: pathlib.Path, root: pathlib.Path = PACKAGE) -> list[tuple[int, str]]:
  """(line, imported cfjax module) of every import in a file under the package `root`,
  relative imports resolved."""
  package = ".".join(("cfjax",) + path.relative_to(root).with_suffix("").parts)
  if path.name == "__init__.py":
    package = package.rsplit(".", 1)[0]
  found = []
  for node in ast.walk(ast.parse(path.read_text(), str(path))):
    if isinstance(node, ast.Import):
      found += [(node.lineno, alias.name) for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      if node.level:
        base = package.rsplit(".", node.level - (path.name == "__init__.py"))[0]
        module = f"{base}.{node.module}" if node.module else base
      else:
        module = node.module or ""
      found += [(node.lineno, f"{module}.{alias.name}" if module == "cfjax" else module)
                for alias in node.names]
  return [(line, module) for line, module in found if module.split(".")[0] == "cfjax"]


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py")


def test_every_subpackage_has_a_layer():
  names = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in MODULES}
  assert names <= set(LEVEL), f"place {sorted(names - set(LEVEL))} in LAYERS"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_higher_layer(path):
  own = LEVEL[path.relative_to(PACKAGE).parts[0].removesuffix(".py")]
  upward = [(line, module) for line, module in imports_of(path)
            if top_level(module) is not None and LEVEL[top_level(module)] > own]
  assert not upward, f"{path.name} imports higher layers: {upward}"


def test_the_checker_sees_an_upward_import(tmp_path):
  """The test can fail: a planted upward import (also a relative one) is found."""
  fake = tmp_path / "cfjax" / "data" / "planted.py"
  fake.parent.mkdir(parents=True)
  fake.write_text("import numpy\nfrom cfjax.explain import base\nfrom ..evaluate import verify\n"
                  "from . import interactions\n")
  modules = [module for _, module in imports_of(fake, root=tmp_path / "cfjax")]
  assert modules == ["cfjax.explain", "cfjax.evaluate", "cfjax.data"]
  modules = modules[:2]
  assert all(LEVEL[top_level(m)] > LEVEL["data"] for m in modules)
