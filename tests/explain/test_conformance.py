"""Every registered explainer on every model that provides its hooks, on tiny synthetic data.

The sweep is parametrized over the registries (`cfjax.explain.available_explainers()` x the
models below), so a new explainer or model joins by registration alone. A supported pair must
return one valid `Explanation` per target; an unsupported pair must refuse in one line naming
the missing hook, before any work.
"""

import functools

import jax
import numpy as np
import pytest

from cfjax.data import make_synthetic
from cfjax.data.interactions import Interactions
from cfjax.explain import (ExplainContext, MissingHookError, Targets, available_explainers,
                           get_explainer, missing_hooks, run_explainer, top1_targets)
from cfjax.models import (fold_in_recommender, make_mf, make_model, make_multvae, make_ncf,
                          train_multvae)
from cfjax.records import Explanation
from cfjax.train import RetrainProtocol, to_train_data, train_original

STEPS = 40
# Small budgets so the sweep stays fast: options per explainer (everything else default).
OPTIONS = {
    "accent": dict(k=3), "fia": dict(k=3), "pure_fia": dict(k=3),
    "influence_function": dict(e=2, max_iters=10, on_fail="ignore"), "knn": dict(e=2),
    "random": dict(e=2),
    "metagrad": dict(e=2, on_constant_lr="ignore"),
    "metagrad_adaptive": dict(max_e=3, on_constant_lr="ignore"),
    "certified": dict(max_size=2, beam=1, budget=3,
                      proposer_options=dict(on_constant_lr="ignore")),
    "exhaustive": dict(max_size=1),
    "lcer": dict(k=3, steps=20), "kaffes": dict(k=3, max_expansions=3),
    "loo_fia": dict(k=3), "loo_accent": dict(k=3),
    "verified": dict(e=2, budget=1, per_round=1, max_candidates=20, ranker="lasso_reg",
                     ranker_options=dict(simulation_users=6, simulation_subsets=3,
                                         simulation_top_n=5)),
}
SURROGATE = dict(e=2, max_candidates=20, simulation_users=6, simulation_subsets=3,
                 simulation_top_n=5)


def options(name):
  from cfjax.explain import surrogate
  if name in surrogate.SPECS:
    return dict(SURROGATE)
  return OPTIONS.get(name, {})


@functools.lru_cache(maxsize=None)
def contexts():
  """name -> (ExplainContext, Targets) for each model of the sweep (built once)."""
  data = make_synthetic(num_users=24, num_items=30, density=0.3, seed=3, min_per_user=6)
  out = {}
  for name, model in (("mf", make_mf(data.num_users, data.num_items, dim=4)),
                      ("ncf", make_ncf(data.num_users, data.num_items, dim=4,
                                       mlp_layers=(4, 2), learning_rate=0.01)),
                      ("bpr", make_model("bpr", data, dim=4, learning_rate=0.05)),
                      ("lightgcn", make_model("lightgcn", data, dim=4, num_layers=1,
                                              learning_rate=0.05)),
                      ("ease", make_model("ease", data, l2=2.0))):
    spec = RetrainProtocol(steps=STEPS, batch_size=None, seeds=(0,))
    original = train_original(model, to_train_data(data), RetrainProtocol(steps=STEPS, seeds=(0,)))
    ctx = ExplainContext.from_original(model, data, original, spec)
    out[name] = (ctx, top1_targets(ctx, np.arange(4)))
  # Mult-VAE, amortised: a view over fixed input rows.
  rows = (np.random.default_rng(0).random((12, 30)) < 0.3).astype(np.float32)
  rows[:, :2] = 1.0
  vae = make_multvae(30, hidden=8, latent=4)
  trained = train_multvae(vae, rows, rows[:4], rows[:4], key=jax.random.key(0), epochs=2,
                          batch_size=6)
  view = fold_in_recommender(vae, rows)
  fold_in = Interactions.from_dense(rows, name="fold-in")
  ctx = ExplainContext(model=view, params=trained.params, train=fold_in)
  items = ctx.top_k(np.arange(3), 3)[0]
  out["multvae"] = (ctx, Targets(np.repeat(np.arange(3), 2), items[:, :2].ravel()))
  return out


@pytest.mark.parametrize("model_name", ["mf", "ncf", "multvae", "bpr", "lightgcn", "ease"])
@pytest.mark.parametrize("explainer_name", available_explainers())
def test_every_explainer_on_every_model(model_name, explainer_name):
  ctx, targets = contexts()[model_name]
  explainer = get_explainer(explainer_name, **options(explainer_name))
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


def test_every_model_has_an_explainer_beyond_the_controls():
  for ctx, _ in contexts().values():
    usable = [n for n in available_explainers() if not missing_hooks(get_explainer(n), ctx.model)]
    assert set(usable) - {"random", "none"}, ctx.model.name


def test_unknown_explainer_and_option_are_one_line_errors():
  with pytest.raises(ValueError, match="unknown explainer 'nope'; choose one of"):
    get_explainer("nope")
  with pytest.raises(ValueError, match="explainer 'knn'.*options are e, name"):
    get_explainer("knn", size=3)
