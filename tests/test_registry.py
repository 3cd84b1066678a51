"""The one registry idiom (`cfjax.registry.Registry`) behind explainers, models and datasets."""

import pytest

from cfjax.data import DatasetError, available_datasets
from cfjax.data.loaders import DATASETS
from cfjax.explain import EXPLAINERS
from cfjax.models import MODELS
from cfjax.registry import Registry


def test_register_get_names_and_origin():
  colours = Registry("colour")
  colours.register("red", 1)

  @colours.register("blue")
  def blue():
    return 2

  assert colours.get("red") == 1 and colours.get("blue") is blue
  assert colours.names() == ("blue", "red") and list(colours) == ["blue", "red"]
  assert "red" in colours and len(colours) == 2
  assert colours.origin("red") == __name__
  assert colours.select(lambda value: value == 1) == ("red",)
  colours.unregister("red")
  assert colours.names() == ("blue",)


def test_unknown_and_taken_names_are_one_line_errors():
  items = Registry("item")
  items.register("a", 1)
  with pytest.raises(ValueError, match=r"^unknown item 'b'; choose one of a$"):
    items.get("b")
  with pytest.raises(ValueError, match=r"^an item named 'a' is already registered; pick "):
    items.register("a", 2)
  assert items.get("a") == 1


def test_the_error_type_is_the_registrys():
  with pytest.raises(DatasetError, match="unknown dataset 'nope'"):
    DATASETS.get("nope")


def test_explainers_models_and_datasets_share_the_idiom():
  for registry in (EXPLAINERS, MODELS, DATASETS):
    assert isinstance(registry, Registry) and registry.names()
  assert available_datasets() == DATASETS.names() + ("synthetic",)
  assert {"mf", "ncf", "multvae"} <= set(MODELS.names())
