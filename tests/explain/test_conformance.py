"""Every registered explainer on every set of model hooks, on tiny synthetic data.

The sweep is parametrized over the registries (`cfjax.explain.EXPLAINERS` x
`cfjax.models.MODELS`, each model at its `tiny` recipe), so a new explainer or model joins by
registration alone. Models that provide the same hooks are one case per explainer: the
explainer runs once per distinct hook set, on one model of the set (rotated over the set's
models from one explainer to the next, so each model is exercised). A supported pair must
return one valid `Explanation` per target; an unsupported pair must refuse in one line naming
the missing hook, before any work. Contexts are trained once per session, on first use.
"""

import functools

import jax
import numpy as np
import pytest

from cfjax.data import make_synthetic
from cfjax.data.interactions import Interactions
from cfjax.explain import (EXPLAINERS, ExplainContext, MissingHookError, Targets,
                           available_explainers, get_explainer, missing_hooks, run_explainer,
                           top1_targets)
from cfjax.explain import surrogate
from cfjax.models import HOOKS, MODELS, fold_in_recommender, make_model, train_multvae
from cfjax.records import Explanation
from cfjax.train import RetrainProtocol, to_train_data, train_original

# Small budgets so the sweep stays fast: options per explainer (everything else default).
OPTIONS = {
    "accent": dict(replacement_k=3), "fia": dict(replacement_k=3),
    "pure_fia": dict(replacement_k=3),
    "influence_function": dict(e=2, max_iters=10, on_fail="ignore"), "knn": dict(e=2),
    "random": dict(e=2),
    "metagrad": dict(e=2, on_constant_lr="ignore"),
    "metagrad_adaptive": dict(max_e=3, on_constant_lr="ignore"),
    # knn proposes: the metagradient is compiled in its own case, not again here
    "certified": dict(proposer="knn", max_size=2, beam=1, budget=3),
    "exhaustive": dict(max_size=1),
    "lcer": dict(k=3, steps=20), "kaffes": dict(k=3, max_expansions=3),
    "loo_fia": dict(k=3), "loo_accent": dict(k=3),
    "verified": dict(e=2, budget=1, per_round=1, max_candidates=20, ranker="lasso_reg",
                     ranker_options=dict(simulation_users=6, simulation_subsets=3,
                                         simulation_top_n=5)),
}
SURROGATE = dict(e=2, max_candidates=20, simulation_users=6, simulation_subsets=3,
                 simulation_top_n=5)
FOLD_IN_USERS = 12


def options(name):
  if name in surrogate.SPECS:
    return dict(SURROGATE)
  return OPTIONS.get(name, {})


@functools.cache
def data() -> Interactions:
  return make_synthetic(num_users=24, num_items=30, density=0.3, seed=3, min_per_user=6)


@functools.cache
def fold_in_rows() -> np.ndarray:
  """float32[12, 30] binary input rows of the amortised models (the first two items in each)."""
  rows = (np.random.default_rng(0).random((FOLD_IN_USERS, data().num_items)) < 0.3)
  rows = rows.astype(np.float32)
  rows[:, :2] = 1.0
  return rows


def untrained(name: str):
  """Model `name` of the sweep at its tiny hyperparameters, untrained (its hooks are known)."""
  entry = MODELS.get(name)
  if entry.amortised:
    return fold_in_recommender(entry.build(data(), **entry.tiny.hparams), fold_in_rows())
  return make_model(name, data(), **entry.tiny.hparams)


@functools.cache
def context(name: str) -> tuple[ExplainContext, Targets]:
  """(ExplainContext, Targets) of model `name` trained by its tiny recipe (once a session)."""
  entry = MODELS.get(name)
  if not entry.amortised:
    model = untrained(name)
    spec = RetrainProtocol(steps=entry.tiny.steps, batch_size=entry.tiny.batch_size)
    original = train_original(model, to_train_data(data()), spec)
    ctx = ExplainContext.from_original(model, data(), original, spec)
    return ctx, top1_targets(ctx, np.arange(4))
  rows = fold_in_rows()  # amortised: a view over fixed input rows
  vae = entry.build(data(), **entry.tiny.hparams)
  trained = train_multvae(vae, rows, rows[:4], rows[:4], key=jax.random.key(0),
                          epochs=entry.tiny.epochs, batch_size=entry.tiny.batch_size)
  ctx = ExplainContext(model=fold_in_recommender(vae, rows), params=trained.params,
                       train=Interactions.from_dense(rows, name="fold-in"))
  items = ctx.top_k(np.arange(3), 3)[0]
  return ctx, Targets(np.repeat(np.arange(3), 2), items[:, :2].ravel())


def hook_set(model) -> frozenset:
  return frozenset(hook for hook in HOOKS + ("row_losses",) if model.has(hook))


def hook_groups() -> dict[frozenset, tuple[str, ...]]:
  """hook set -> the sweep's models (those with a tiny recipe) that provide exactly it."""
  groups: dict[frozenset, tuple[str, ...]] = {}
  for name, entry in MODELS.items():
    if entry.tiny is not None:
      hooks = hook_set(untrained(name))
      groups[hooks] = groups.get(hooks, ()) + (name,)
  return groups


def cases() -> list:
  """One (model, explainer) case per (hook set, explainer), the model rotating over the set."""
  out = []
  for models in hook_groups().values():
    for position, explainer in enumerate(available_explainers()):
      model = models[position % len(models)]
      out.append(pytest.param(model, explainer, id=f"{'+'.join(models)}:{model}-{explainer}"))
  return out


def check_conformance(explainer, ctx: ExplainContext, targets: Targets) -> None:
  """A supported pair returns one valid record per target; an unsupported one refuses."""
  missing = missing_hooks(explainer, ctx.model)
  if missing:
    with pytest.raises(MissingHookError, match=missing[0]):
      run_explainer(explainer, ctx, targets)
    return
  records = run_explainer(explainer, ctx, targets)
  assert len(records) == len(targets)
  for record, (user, item) in zip(records, targets):
    assert isinstance(record, Explanation) and record.method == explainer.name
    assert (record.user, record.item) == (user, item)
    history = set(ctx.train.history_items(user).tolist())
    assert set(record.deleted_items) <= history, "explanations delete the user's own items"
    if record.replacement is not None:
      assert record.replacement not in history and record.replacement != item


@pytest.mark.parametrize("model_name, explainer_name", cases())
def test_every_explainer_on_every_hook_set(model_name, explainer_name):
  explainer = get_explainer(explainer_name, **options(explainer_name))
  model = untrained(model_name)
  if missing_hooks(explainer, model):
    # refuses before any work: on an untrained model with no parameters at all
    train = (Interactions.from_dense(fold_in_rows(), name="fold-in")
             if MODELS.get(model_name).amortised else data())
    check_conformance(explainer, ExplainContext(model=model, params=None, train=train),
                      Targets([0], [0]))
    return
  check_conformance(explainer, *context(model_name))


def test_every_model_is_in_the_sweep_or_says_why_not():
  grouped = {name for models in hook_groups().values() for name in models}
  assert grouped == {name for name, entry in MODELS.items() if entry.tiny is not None}
  assert set(MODELS.names()) - grouped == {"rcf"}  # needs side data: tests/explain/test_attention
  assert len(cases()) == len(hook_groups()) * len(EXPLAINERS)


def test_every_model_has_an_explainer_beyond_the_controls():
  for name in (n for models in hook_groups().values() for n in models):
    model = untrained(name)
    usable = [n for n in available_explainers() if not missing_hooks(get_explainer(n), model)]
    assert set(usable) - {"random", "none"}, name


def test_unknown_explainer_and_option_are_one_line_errors():
  with pytest.raises(ValueError, match="unknown explainer 'nope'; choose one of"):
    get_explainer("nope")
  with pytest.raises(ValueError, match="explainer 'knn'.*options are e, name"):
    get_explainer("knn", size=3)
