"""Surrogates (Yao et al., sec. 5.2), the eq. 9 search, held-out fit, the `SurrogateSearch`
explainer and `verified` (a surrogate's candidates checked by retraining)."""

import itertools

import jax
import numpy as np
import pytest

from cfjax.data import make_synthetic
from cfjax.data.interactions import Interactions
from cfjax.evaluate import verify
from cfjax.explain import ExplainContext, Targets, get_explainer, run_explainer, top1_targets
from cfjax.explain import search, surrogate as sg, surrogate_models as sm
from cfjax.models import make_mf
from cfjax.simulate.generate import SimulationData
from cfjax.train import RetrainProtocol, to_train_data, train_original

U, I, P, HIST, N = 10, 40, 4, 8, 5


def test_lasso_cv_recovers_a_sparse_planted_model():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(3000, 20))
  w = np.zeros(20)
  w[[0, 3, 11]] = [2.0, -1.5, 1.0]
  y = x @ w + 0.7 + 0.1 * rng.normal(size=3000)
  params, info = sm.lasso_cv(x, y, rng.integers(0, 5, 3000))
  np.testing.assert_allclose(params["w"], w, atol=0.05)
  assert abs(float(params["b"]) - 0.7) < 0.05
  assert set(np.flatnonzero(np.abs(params["w"]) > 0.05)) == {0, 3, 11}
  assert info["alpha"] < info["alphas"][0] and len(info["cv_mse"]) == len(info["alphas"])


@pytest.fixture(scope="module")
def synthetic():
  """Features, interactions and simulated data whose reg target is planted linear in eq. 8
  for users 0..7 and pure noise for users 8 and 9."""
  rng = np.random.default_rng(1)
  seen = np.zeros((U, I), bool)
  for u in range(U):
    seen[u, rng.choice(I, HIST, replace=False)] = True
  user, item = np.nonzero(seen)
  train = Interactions(user.astype(np.int32), item.astype(np.int32),
                       rng.integers(1, 6, len(user)).astype(np.float32), U, I)
  features = sg.SurrogateFeatures(
      user_emb=rng.normal(size=(U, P)).astype(np.float32),
      item_emb=rng.normal(size=(I, P)).astype(np.float32),
      centred_rating=np.where(seen, rng.normal(size=(U, I)), 0).astype(np.float32),
      residual=np.where(seen, rng.normal(size=(U, I)), 0).astype(np.float32),
      scores=rng.normal(size=(U, I)).astype(np.float32), seen=seen)
  w = rng.normal(size=3 * P)
  users, deleted, tops = [], [], []
  for u in range(U):
    for subset in itertools.islice(itertools.combinations(np.flatnonzero(seen[u]), 3), 30):
      users.append(u)
      deleted.append(subset)
      tops.append(np.flatnonzero(~seen[u])[:N])
  users, deleted, tops = np.asarray(users), np.asarray(deleted), np.asarray(tops)
  x = np.concatenate([features.user_emb[users][:, None].repeat(N, 1),
                      features.item_emb[deleted].sum(1)[:, None].repeat(N, 1),
                      features.item_emb[tops]], axis=-1)
  reg = x @ w
  noisy = users >= 8
  reg[noisy] = rng.normal(size=reg[noisy].shape) * reg.std()
  clf = np.sign(np.round(reg))
  data = SimulationData(users, deleted, tops, {"reg": reg, "clf": clf, "rank": np.round(reg),
                                               "cross": reg}, tops * 0, tops * 0, 0.0)
  return features, train, data


def test_heldout_r2_is_computed_on_users_not_in_training(synthetic):
  features, _, data = synthetic
  fit_users, held = sg.split_users(range(10), 0.2, seed=0)
  assert not set(fit_users) & set(held) and len(held) == 2
  clean = list(range(8))
  model = sg.fit_surrogate("lasso_reg", features, data, clean[:6],
                           sg.FitOptions(num_folds=3))
  assert model.info["users"] == 6
  good = sg.heldout_metrics(model, features, data, [6, 7])
  assert good["users"] == 2 and good["rows"] == 2 * 30 * N and good["r2"] > 0.99
  noise = sg.heldout_metrics(model, features, data, [8, 9])  # unseen users, noise targets
  assert noise["r2"] < 0.2


def test_other_families_fit_and_score(synthetic):
  features, _, data = synthetic
  options = sg.FitOptions(num_folds=3, mlp_steps=200, logistic_steps=100)
  for name in ("mlp_reg", "logreg_clf", "mlp_clf", "deepsets_reg", "coupled_reg"):
    model = sg.fit_surrogate(name, features, data, range(6), options)
    metrics = sg.heldout_metrics(model, features, data, [6, 7])
    key = "accuracy" if model.spec.classify else "r2"
    assert np.isfinite(metrics[key]), name
  assert metrics["r2"] > 0.9  # coupled_reg contains eq. 8's features


def test_search_returns_the_argmax_over_candidates(synthetic):
  features, train, data = synthetic
  model = sg.fit_surrogate("coupled_reg", features, data, range(6), sg.FitOptions(num_folds=3))
  user, item = 2, int(np.flatnonzero(~features.seen[2])[0])
  everything = np.asarray(list(itertools.combinations(np.sort(train.history_items(user)), 3)))
  values = search.score_candidates(model, features, user, item, everything)
  best = search.search(model, features, train, user, item, keep=3)
  assert best.num_candidates == len(everything) == 56
  np.testing.assert_array_equal(best.subsets[0], everything[np.argmax(values)])
  np.testing.assert_allclose(best.scores, np.sort(values)[::-1][:3], rtol=1e-5)
  capped = search.search(model, features, train, user, item, max_candidates=10, seed=4)
  sampled = search.candidate_subsets(train.history_items(user), 3, 10, 4 + user)
  assert capped.num_candidates == 10
  sampled_values = search.score_candidates(model, features, user, item, sampled)
  np.testing.assert_array_equal(capped.subsets[0], sampled[np.argmax(sampled_values)])


def test_batched_search_matches_one_at_a_time(synthetic):
  features, train, data = synthetic
  model = sg.fit_surrogate("lasso_reg", features, data, range(6), sg.FitOptions(num_folds=3))
  users = [1, 2, 5, 9]
  targets = Targets(users, [int(np.flatnonzero(~features.seen[u])[1]) for u in users])
  single = [search.search(model, features, train, u, i, max_candidates=20, seed=3)
            for u, i in targets]
  batched = search.best_candidates_batched(model, features, train, targets, size=3,
                                           max_candidates=20, seed=3,
                                           chunk_rows=32)  # several chunks, a padded tail
  assert [r.subsets[0].tolist() for r in single] == [r.subsets[0].tolist() for r in batched]
  assert all(r.num_candidates == 20 for r in batched)


def test_mlp_regressor_learns_small_scale_targets_and_stops_early():
  """Delta y is ~1e-2: trained on the raw scale the MLP's R^2 was far below 0."""
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2000, 6)).astype(np.float32)
  y = 0.01 * (x[:, 0] - 0.5 * x[:, 1] * x[:, 2]) + 0.002
  info = {}
  params = sm.mlp_fit(x[:1500], y[:1500], classify=False, steps=600, seed=0,
                      valid=np.arange(1500) % 5 == 0, info=info)
  predicted = np.asarray(sm.mlp_apply(params, x[1500:]))[:, 0]
  r2 = 1 - np.sum((y[1500:] - predicted) ** 2) / np.sum((y[1500:] - y[1500:].mean()) ** 2)
  assert r2 > 0.8 and 100 <= info["steps_chosen"] <= 600
  assert abs(info["target_std"] - y[:1500].std()) < 1e-6


def test_surrogate_search_explainer_fits_once_on_the_context_simulation(synthetic):
  """The protocol path: `ctx.simulation` is what the surrogate learns from, the fit is cached
  on the context, and eq. 9's choice is the argmax of the fitted surrogate."""
  features, train, data = synthetic
  model = make_mf(U, I, dim=P)
  ctx = ExplainContext(model=model, params=model.init(jax.random.PRNGKey(0)), train=train,
                       simulation=sg.Simulated(data, np.arange(6), np.asarray([6, 7])))
  ctx.cache["surrogate_features"] = features  # the planted eq. 8 inputs, not the model's
  fit = sg.FitOptions(num_folds=3)
  users = [1, 2, 5]
  targets = Targets(users, [int(np.flatnonzero(~features.seen[u])[0]) for u in users])
  explainer = get_explainer("lasso_reg", max_candidates=20, seed=3, fit=fit)
  records = run_explainer(explainer, ctx, targets)
  surrogate, used = explainer.fitted(ctx)
  assert used is features and surrogate.info["users"] == 6
  assert explainer.fitted(ctx)[0] is surrogate  # cached: fitted once per context
  for record, (user, item) in zip(records, targets):
    best = search.search(surrogate, features, train, user, item, max_candidates=20, seed=3)
    assert record.deleted_items == tuple(int(i) for i in best.subsets[0])
    assert record.method == "lasso_reg" and record.extra["candidates"] == 20
  batched = get_explainer("lasso_reg", max_candidates=20, seed=3, fit=fit, batched=True)
  assert [r.deleted_items for r in batched.explain(ctx, targets)] == [
      r.deleted_items for r in records]


def test_verified_keeps_the_first_candidate_that_retraining_confirms():
  data = make_synthetic(num_users=24, num_items=30, density=0.3, seed=3, min_per_user=6)
  model = make_mf(data.num_users, data.num_items, dim=4)
  spec = RetrainProtocol(steps=20, batch_size=None, seeds=(0,))
  original = train_original(model, to_train_data(data),
                            RetrainProtocol(steps=spec.steps, seeds=(0,)))
  ctx = ExplainContext.from_original(model, data, original, spec)
  targets = top1_targets(ctx, np.arange(4))
  options = dict(simulation_users=6, simulation_subsets=3, simulation_top_n=5)
  explainer = get_explainer("verified", ranker="lasso_reg", ranker_options=options, e=2,
                            budget=3, per_round=2, k=1, max_candidates=20)
  records = run_explainer(explainer, ctx, targets)
  ranker = get_explainer("lasso_reg", e=2, max_candidates=20, seed=0, **options)
  ranked = ranker.ranked(ctx, targets, keep=3)
  checked = verify(records, model=model, train=data, original=original,
                   protocol=RetrainProtocol(steps=spec.steps, seeds=(spec.seed + 2,), chunk_size=1),
                   ks=(1,), progress=False)
  for record, result, candidates in zip(records, checked, ranked):
    extra = record.extra
    assert extra["verification_seed"] == 2 and 1 <= extra["retrains"] <= 3
    position = extra["rank_in_search"]
    assert record.deleted_items == tuple(int(i) for i in candidates.subsets[position])
    # a found candidate left the top-1 when retrained under the check seed
    assert result.left_top_k[1] == extra["found"]
  assert records[0].extra["engine_models_total"] <= 3 * len(targets)
