"""Per-item attributions (the optional `attributions(ctx, targets)` of `cfjax.explain.base`):
the contract on every model, each method's value against an independent computation, and the
influence function against retrained single-item deletions."""

import jax.numpy as jnp
import numpy as np
import pytest

from cfjax.data import make_synthetic
from cfjax.evaluate.lds import actual_effects, lds_scores, lds_summary, predicted_effects
from cfjax.explain import (ExplainContext, Targets, available_explainers, get_explainer,
                           missing_hooks, run_explainer, top1_targets)
from cfjax.explain import search, surrogate as sg
from cfjax.explain.base import has_attributions
from cfjax.explain.lcer import dense_rows
from cfjax.models import fold_in_recommender, make_mf, make_multvae, make_ncf
from cfjax.train import RetrainProtocol, to_train_data, train_original
from tests.explain.test_conformance import context, hook_set, options

ATTRIBUTING = tuple(name for name in available_explainers()
                    if has_attributions(get_explainer(name)))
# The models of test_conformance, untrained: only their hooks decide which pairs are tested.
HOOKED = {"mf": make_mf(24, 30, dim=4), "ncf": make_ncf(24, 30, dim=4, mlp_layers=(4, 2)),
          "multvae": fold_in_recommender(make_multvae(30, hidden=8, latent=4),
                                         np.ones((12, 30), np.float32))}


def supported_cases() -> list[tuple[str, str]]:
  """(model, explainer) pairs to test: as in test_conformance, models that provide the same
  hooks are one case per explainer. Each explainer runs on one model of every hook set it
  supports, rotated over the set's models by explainer family (the name before "_", so
  explainers that share a cached computation, e.g. metagrad and metagrad_adaptive, share the
  model and its compiled programs), so each model is exercised."""
  groups: dict[frozenset, list[str]] = {}
  for model in HOOKED:
    groups.setdefault(hook_set(HOOKED[model]), []).append(model)
  families = sorted({name.split("_")[0] for name in ATTRIBUTING})
  cases = []
  for name in ATTRIBUTING:
    turn = families.index(name.split("_")[0])
    for models in groups.values():
      usable = [m for m in models
                if not missing_hooks(get_explainer(name, **options(name)), HOOKED[m])]
      if usable:
        cases.append((usable[turn % len(usable)], name))
  return cases


SUPPORTED = supported_cases()


def test_which_explainers_attribute():
  assert set(ATTRIBUTING) == {"knn", "influence_function", "pure_fia", "fia", "accent", "lcer",
                              "loo_fia", "loo_accent", "random", "metagrad",
                              "metagrad_adaptive"} | set(sg.SPECS)
  assert not any(has_attributions(get_explainer(n)) for n in ("none", "verified", "kaffes"))


def test_every_attributing_explainer_runs_on_some_model():
  assert {name for _, name in SUPPORTED} == set(ATTRIBUTING)
  assert {model for model, _ in SUPPORTED} == set(HOOKED)  # the rotation reaches every model


@pytest.mark.parametrize("model_name,explainer_name", SUPPORTED)
def test_one_finite_value_per_history_item_of_every_target(model_name, explainer_name):
  ctx, targets = context(model_name)  # shared with test_conformance (fits and caches)
  assert not missing_hooks(get_explainer(explainer_name), ctx.model)
  explainer = get_explainer(explainer_name, **options(explainer_name))
  attributions = explainer.attributions(ctx, targets)
  assert len(attributions) == len(targets)
  for scores, (user, _) in zip(attributions, targets):
    assert sorted(scores) == sorted(ctx.train.history_items(user).tolist())
    assert all(isinstance(k, int) and isinstance(v, float) for k, v in scores.items())
    assert np.isfinite(list(scores.values())).all()


def test_random_attributions_are_seeded_per_target_and_standard_normal():
  ctx, targets = context("mf")
  explainer = get_explainer("random", seed=5)
  batch = explainer.attributions(ctx, targets)
  assert batch == explainer.attributions(ctx, targets)
  assert explainer.attributions(ctx, targets.select(np.asarray([2])))[0] == batch[2]
  assert batch != get_explainer("random", seed=6).attributions(ctx, targets)
  many = get_explainer("random").attributions(ctx, top1_targets(ctx, np.arange(24)))
  values = np.concatenate([list(d.values()) for d in many])
  assert abs(values.mean()) < 0.2 and 0.8 < values.std() < 1.2  # ~210 draws of N(0, 1)


def test_knn_attributions_are_the_cosine_and_explain_takes_the_largest():
  ctx, targets = context("ncf")
  embeddings = np.asarray(ctx.model.item_embeddings(ctx.params))
  unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
  records = get_explainer("knn", e=1).explain(ctx, targets)
  for scores, record in zip(get_explainer("knn").attributions(ctx, targets), records):
    for item, value in scores.items():
      assert value == pytest.approx(float(unit[item] @ unit[record.item]), abs=1e-5)
    assert record.deleted_items == (max(scores, key=scores.get),)


def test_fia_attributions_are_the_gap_influence_to_the_runner_up_shared_by_all_three():
  ctx, targets = context("mf")
  fia = get_explainer("fia", replacement_k=3)
  shared = fia.top_k_influence(ctx, targets)
  expected = fia.attributions(ctx, targets)
  for b, scores in enumerate(expected):
    for p in np.flatnonzero(shared.history_rows[b] >= 0):
      item = int(shared.history_items[b, p])
      assert scores[item] == float(shared.influence[b, 0, p] - shared.influence[b, 1, p])
  for name in ("pure_fia", "accent"):
    assert get_explainer(name, replacement_k=3).attributions(ctx, targets) == expected
  second = Targets(targets.users[:1], ctx.top_k(targets.users[:1], 2)[0][:, 1])
  with pytest.raises(ValueError, match=r"^fia explains a user's top-1 item, but target"):
    fia.attributions(ctx, second)


def test_surrogate_attributions_equal_one_at_a_time_scoring():
  ctx, targets = context("mf")
  explainer = get_explainer("coupled_reg", **options("coupled_reg"))
  surrogate, features = explainer.fitted(ctx)
  for scores, (user, item) in zip(explainer.attributions(ctx, targets), targets):
    history = ctx.train.history_items(user).astype(np.int64)
    alone = search.score_candidates(surrogate, features, user, item, history[:, None])
    np.testing.assert_allclose([scores[d] for d in history.tolist()], alone, rtol=1e-6,
                               atol=1e-7)


def test_loo_attributions_are_the_rescored_input_edits():
  ctx, targets = context("multvae")
  attributions = get_explainer("loo_fia").attributions(ctx, targets)
  assert attributions == get_explainer("loo_accent").attributions(ctx, targets)
  for scores, (user, item) in zip(attributions, targets):
    x = dense_rows(ctx.train, [user])
    for d, value in scores.items():
      edited = x.copy()
      edited[0, d] = 0.0
      drop = (ctx.model.score_rows(ctx.params, jnp.asarray(x))[0, item]
              - ctx.model.score_rows(ctx.params, jnp.asarray(edited))[0, item])
      assert value == pytest.approx(float(drop), abs=1e-5)


def test_loo_attributions_are_an_oracle_of_single_item_input_edits():
  # On an amortised model the counterfactual is the edited input row, so the leave-one-out
  # score drops ARE the actual single-item effects on the target's score.
  ctx, targets = context("multvae")
  single = [[(int(d),) for d in ctx.train.history_items(u)[:6]] for u, _ in targets]
  predicted = predicted_effects(get_explainer("loo_fia").attributions(ctx, targets), single)
  actual = actual_effects(ctx, targets, single, measure="score")
  np.testing.assert_allclose(predicted, actual, atol=1e-6)
  assert np.all(lds_scores(predicted, actual) == 1.0)


def test_lcer_attributions_share_the_optimisation_with_explain():
  ctx, targets = context("multvae")
  explainer = get_explainer("lcer", **options("lcer"))
  attributions = explainer.attributions(ctx, targets)
  runs = [key for key in ctx.cache if isinstance(key, tuple) and key[0] == "lcer"]
  run_explainer(explainer, ctx, targets)
  assert [key for key in ctx.cache if isinstance(key, tuple) and key[0] == "lcer"] == runs
  assert len(runs) == 1
  assert all(0.0 <= v <= 1.0 for scores in attributions for v in scores.values())


# ------------------------------------------------------------------------------ against retraining


@pytest.fixture(scope="module")
def trained_mf():
  """Biased MF (dim 4) on 60 synthetic users, 300 full-batch Adam steps."""
  train = make_synthetic(num_users=60, num_items=60, density=0.2, seed=0, min_per_user=5)
  model = make_mf(train.num_users, train.num_items, dim=4)
  original = train_original(model, to_train_data(train), RetrainProtocol(steps=300, seeds=(0,)))
  return ExplainContext.from_original(model, train, original, RetrainProtocol(steps=300,
                                                                              seeds=(0,)))


def test_influence_attributions_rank_single_deletions_like_retraining(trained_mf):
  # Each user's top-1 and 5 single-item deletions, retrained from scratch (paired, seed 0).
  # Measured: mean Spearman 0.65 with the target's own score drop, which the influence
  # predicts, and 0.37 with the margin decrease (the runner-up's change is not in it).
  ctx = trained_mf
  targets = top1_targets(ctx, np.arange(ctx.train.num_users))
  single = [[(int(d),) for d in ctx.train.history_items(u)[:5]] for u, _ in targets]
  explainer = get_explainer("influence_function", max_iters=300, on_fail="ignore")
  predicted = predicted_effects(explainer.attributions(ctx, targets), single)
  summaries = {measure: lds_summary(lds_scores(predicted, actual_effects(
      ctx, targets, single, steps=300, seeds=(0,), chunk_size=1, progress=False,
      measure=measure))) for measure in ("score", "margin")}
  assert summaries["score"]["targets"] == summaries["margin"]["targets"] == 60
  assert summaries["score"]["mean"] > 0.5 and summaries["score"]["ci95"][0] > 0.4
  assert summaries["margin"]["mean"] > 0.25 and summaries["margin"]["ci95"][0] > 0.1
