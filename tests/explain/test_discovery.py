"""Explainer modules are found, not listed: a new file with one `register` line joins
`cfjax.explain`, the conformance sweep and (by its declared cost) `cfjax explain`'s defaults.
"""

import sys
import textwrap

import pytest

import cfjax.explain as explain
from cfjax.explain import (COSTS, EXPLAINERS, HELPER_MODULES, available_explainers, cost_of,
                           get_explainer, unregistered_modules)
from cfjax.workflows.explain_user import Request, resolve_methods
from tests.explain.test_conformance import check_conformance, context

NEW_METHOD = '''
"""A method added as one file: delete the target user's first history item."""

import dataclasses
from typing import ClassVar

from cfjax.explain.base import register
from cfjax.records import Explanation


@register("first_item")
@dataclasses.dataclass(frozen=True)
class FirstItem:
  name: str = "first_item"
  requires: ClassVar[tuple[str, ...]] = ("row_losses",)
  cost: ClassVar[str] = "{cost}"

  def explain(self, ctx, targets):
    ctx.check_targets(targets)
    return [Explanation(user, item, (int(ctx.train.history_items(user)[0]),), method=self.name)
            for user, item in targets]
'''


@pytest.fixture
def package_dir(tmp_path, monkeypatch):
  """A folder on `cfjax.explain.__path__`: a module written there is part of the package.
  Whatever the test registers or imports from it is removed afterwards."""
  monkeypatch.setattr(explain, "__path__", list(explain.__path__) + [str(tmp_path)])
  before = set(available_explainers())
  yield tmp_path
  for name in set(available_explainers()) - before:
    EXPLAINERS.unregister(name)
  for path in tmp_path.glob("*.py"):
    sys.modules.pop(f"cfjax.explain.{path.stem}", None)
    if hasattr(explain, path.stem):
      delattr(explain, path.stem)


def test_every_module_registers_an_explainer_or_is_a_declared_helper():
  assert unregistered_modules() == ()
  origins = {EXPLAINERS.origin(name) for name in available_explainers()}
  for helper in HELPER_MODULES:
    assert f"cfjax.explain.{helper}" not in origins, f"{helper} registers: not a helper"
    assert helper in explain.MODULES, f"{helper} is declared a helper but does not exist"


def test_every_explainer_declares_its_cost():
  for name in available_explainers():
    explainer = get_explainer(name)
    assert any("cost" in vars(cls) for cls in type(explainer).__mro__), f"{name}: no cost"
    assert cost_of(explainer) in COSTS
  assert {cost_of(get_explainer(n)) for n in ("lasso_reg", "verified")} == {"simulating"}
  assert {cost_of(get_explainer(n)) for n in ("certified", "exhaustive", "metagrad",
                                              "metagrad_adaptive")} == {"slow"}


def test_a_module_that_registers_nothing_is_caught(package_dir):
  (package_dir / "forgot_to_register.py").write_text('"""A method without its register line."""\n')
  assert unregistered_modules() == ("forgot_to_register",)


@pytest.mark.parametrize("cost, by_default", [("slow", False), ("simulating", False),
                                              ("fast", True)])
def test_a_new_explainer_file_is_discovered_conforms_and_its_cost_decides(cost, by_default,
                                                                         package_dir):
  (package_dir / "first_item.py").write_text(textwrap.dedent(NEW_METHOD.format(cost=cost)))
  assert "first_item" in explain.discover()
  assert "first_item" in available_explainers() and unregistered_modules() == ()
  ctx, targets = context("mf")
  check_conformance(get_explainer("first_item"), ctx, targets)
  assert ("first_item" in resolve_methods(Request(), ctx.model)) == by_default
  assert "first_item" in resolve_methods(Request(methods=("all",)), ctx.model)
  assert "first_item" in resolve_methods(Request(methods=("first_item",)), ctx.model)


def test_a_bad_cost_is_a_one_line_error(package_dir):
  (package_dir / "first_item.py").write_text(textwrap.dedent(NEW_METHOD.format(cost="soon")))
  explain.discover()
  with pytest.raises(ValueError, match="declares cost='soon'; use one of fast, simulating"):
    cost_of(get_explainer("first_item"))


def test_a_taken_name_is_a_one_line_error():
  with pytest.raises(ValueError, match="an explainer named 'knn' is already registered"):
    explain.register("knn", object)
