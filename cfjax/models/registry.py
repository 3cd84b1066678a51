"""The models by name (`MODELS`): each entry's factory, how it is trained by default, and
tiny settings for tests.

    entry = MODELS.get("ncf")
    model = entry.build(data, **entry.recipe.hparams)     # a Recommender sized for `data`
    spec = RetrainProtocol(steps=entry.recipe.steps, batch_size=entry.recipe.batch_size)

`make_model(name, data, **hparams)` builds the (trained-per-user) recommenders. Mult-VAE is
here too, as what it is: an amortised model (`ModelEntry.amortised`), whose `build` returns a
`MultVAE` to train with `train_multvae` and explain through `fold_in_recommender`.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Callable, Mapping

from cfjax.models.base import Recommender
from cfjax.models.bpr import make_bpr
from cfjax.models.ease import make_ease
from cfjax.models.lightgcn import make_lightgcn
from cfjax.models.mf import make_mf
from cfjax.models.multvae import make_multvae
from cfjax.models.ncf import make_ncf
from cfjax.models.rcf import build_tables, make_rcf
from cfjax.registry import Registry


def _frozen(mapping: Mapping | None) -> Mapping:
  return types.MappingProxyType(dict(mapping or {}))


@dataclasses.dataclass(frozen=True, eq=False)
class Recipe:
  """How a model is trained: `steps` optimizer steps over minibatches of `batch_size` rows
  (None: full batch) of a model built with `hparams`; an amortised model counts `epochs`.

  Attributes:
    steps: optimizer steps (None for an amortised model, which trains by epochs).
    batch_size: rows per step (users per step for an amortised model); None: full batch.
    hparams: keyword arguments of the model's factory (read-only).
    epochs: passes over the users (amortised models only).
  """

  steps: int | None = None
  batch_size: int | None = None
  hparams: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  epochs: int | None = None

  def __post_init__(self):
    object.__setattr__(self, "hparams", _frozen(self.hparams))

  def as_dict(self) -> dict:
    """{"steps", "batch_size", "hparams"} (and "epochs" if set), plain JSON-able values."""
    out = {"steps": self.steps, "batch_size": self.batch_size, "hparams": dict(self.hparams)}
    return out if self.epochs is None else {**out, "epochs": self.epochs}


@dataclasses.dataclass(frozen=True, eq=False)
class ModelEntry:
  """One registered model.

  Attributes:
    name: the registry name.
    build: (data: Interactions, **hparams) -> Recommender; for an amortised model, the model
      itself (`MultVAE`), which `make_model` does not build.
    recipe: how `cfjax explain` (and the benchmark's CPU preset) trains it by default.
    tiny: a few-second recipe with tiny dimensions for tests on small synthetic data, or
      None where the model needs data synthetic interactions lack (RCF: side data).
    amortised: encodes a user's input row instead of learning parameters per user: the
      counterfactual of deleting items is re-scoring the edited row, not retraining.
    regresses_ratings: fits the rating values (squared error): on implicit feedback (one
      rating value) every score ties, so `cfjax explain` refuses it there.
  """

  name: str
  build: Callable[..., Any]
  recipe: Recipe
  tiny: Recipe | None = None
  amortised: bool = False
  regresses_ratings: bool = False


MODELS: Registry[ModelEntry] = Registry("model")

# How a model trains when nothing says otherwise (cfjax explain's default): 300 full-batch steps.
DEFAULT_RECIPE = Recipe(steps=300, batch_size=None)
TINY_STEPS = 40


def _mf(data, **hparams) -> Recommender:
  hparams.setdefault("global_mean", float(data.rating.mean()) if len(data) else 0.0)
  return make_mf(data.num_users, data.num_items, **hparams)


def _ncf(data, **hparams) -> Recommender:
  return make_ncf(data.num_users, data.num_items, **hparams)


def _bpr(data, **hparams) -> Recommender:
  return make_bpr(data.num_users, data.num_items, **hparams)


def _rcf(data, **hparams) -> Recommender:
  if not getattr(data, "attributes", None):
    raise ValueError("rcf needs item side data (genres, directors, actors, relations); load "
                     "the data with load('accent-rcf')")
  tables = build_tables(data.user, data.item, data.num_users, data.num_items, data.attributes,
                        data.num_values, data.relations)
  return make_rcf(tables, data.num_users, data.num_items, **hparams)


def _lightgcn(data, **hparams) -> Recommender:
  return make_lightgcn(data.num_users, data.num_items, data.user, data.item, **hparams)


def _ease(data, **hparams) -> Recommender:
  return make_ease(data.num_users, data.num_items, data.user, data.item, data.rating,
                   **hparams)


def _multvae(data, **hparams):
  """A `MultVAE` over `data`'s items (not a `Recommender`): train it with `train_multvae` on
  users' rows, then view it over fixed input rows with `fold_in_recommender`."""
  return make_multvae(data.num_items, **hparams)


def _tiny(**hparams) -> Recipe:
  return Recipe(steps=TINY_STEPS, batch_size=None, hparams=hparams)


MODELS.register("mf", ModelEntry("mf", _mf, DEFAULT_RECIPE, _tiny(dim=4),
                                 regresses_ratings=True))
# ACCENT's NeuMF with Yao et al.'s Table 3 personalising settings (L2 1e-4, Adam 1e-2) on
# ACCENT's 1,246-row minibatches: 600 steps = ~11 epochs of MovieLens' 70K training rows.
MODELS.register("ncf", ModelEntry(
    "ncf", _ncf,
    Recipe(steps=600, batch_size=1246, hparams={"weight_decay": 1e-4, "learning_rate": 1e-2}),
    _tiny(dim=4, mlp_layers=(4, 2), learning_rate=0.01), regresses_ratings=True))
MODELS.register("bpr", ModelEntry("bpr", _bpr, DEFAULT_RECIPE,
                                  _tiny(dim=4, learning_rate=0.05)))
MODELS.register("lightgcn", ModelEntry("lightgcn", _lightgcn, DEFAULT_RECIPE,
                                       _tiny(dim=4, num_layers=1, learning_rate=0.05)))
MODELS.register("ease", ModelEntry("ease", _ease, DEFAULT_RECIPE, _tiny(l2=2.0)))
MODELS.register("rcf", ModelEntry("rcf", _rcf, DEFAULT_RECIPE, None))
MODELS.register("multvae", ModelEntry(
    "multvae", _multvae, Recipe(epochs=200, batch_size=500),
    Recipe(epochs=2, batch_size=6, hparams={"hidden": 8, "latent": 4}), amortised=True))


def available_models() -> tuple[str, ...]:
  """Names accepted by `make_model` (the registered models that are not amortised)."""
  return MODELS.select(lambda entry: not entry.amortised)


def make_model(name: str, data, **hparams) -> Recommender:
  """Builds the recommender `name` sized for `data` (an `Interactions`).

  For "mf", the global bias starts at the training mean rating unless given. "lightgcn" and
  "ease" are built for `data`'s rows (the graph's edges, EASE's X): train them on that data.
  "bpr", "lightgcn" and "ease" treat every row as an implicit positive.

  Raises:
    ValueError: on an unknown name or hyperparameter (one line naming the choices), or an
      amortised model (Mult-VAE; one line saying how to build it instead).
  """
  if name not in MODELS:
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(available_models())}")
  entry = MODELS.get(name)
  if entry.amortised:
    raise ValueError(f"{name} is amortised (it encodes a user's row, it is not trained per "
                     f"user): build it with MODELS.get({name!r}).build(data) or make_{name}, "
                     f"train it with train_{name} and explain it through fold_in_recommender")
  try:
    return entry.build(data, **hparams)
  except TypeError as error:
    raise ValueError(f"model {name!r}: {error}") from None


__all__ = ["DEFAULT_RECIPE", "MODELS", "ModelEntry", "Recipe", "available_models",
           "make_model"]
