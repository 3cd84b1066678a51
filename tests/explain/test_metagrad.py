"""Metagradients through training (cfjax.explain.metagrad): against finite differences of
actual retraining, against one-at-a-time gradients, and against the influence function on a
strongly convex problem trained to convergence."""

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cfjax.data import make_synthetic
from cfjax.explain import ExplainContext, Targets, get_explainer, run_explainer, top1_targets
from cfjax.explain import metagrad as mg
from cfjax.models import Recommender, make_mf
from cfjax.train import RetrainProtocol, fit, init_state, seed_keys, to_train_data, train_original

STEPS = 200


@pytest.fixture(scope="module")
def tiny():
  """One data set and one decayed-schedule MF for the whole module: the same model object,
  so every test's jitted training and trajectory programs compile once and are shared."""
  data = make_synthetic(num_users=12, num_items=15, density=0.4, seed=1, min_per_user=5)
  model = make_mf(data.num_users, data.num_items, dim=3, learning_rate=0.02,
                  schedule="cosine", decay_steps=STEPS)
  return data, model


@pytest.fixture(scope="module")
def constant_mf(tiny):
  """The same MF with a constant learning rate (no fixed point at the end of training)."""
  data, _ = tiny
  return make_mf(data.num_users, data.num_items, dim=3, learning_rate=0.02)


@pytest.fixture(scope="module")
def constant_ctx(tiny, constant_mf):
  """The constant-lr MF trained once; the warm-protocol tests share its cached metagradients."""
  data = tiny[0]
  original = train_original(constant_mf, to_train_data(data), RetrainProtocol(steps=STEPS))
  return ExplainContext.from_original(constant_mf, data, original, RetrainProtocol(steps=STEPS))


def warm_explainer(**options):
  return get_explainer("metagrad", protocol="warm", warm_steps=15, measure="score", **options)


@pytest.fixture(scope="module")
def full_batch(tiny):
  """(start, order_key, trajectory): the full-batch trajectory (remat blocks of 7, which do
  not divide the steps), shared so its forward and its one-target pullback compile once."""
  data, model = tiny
  init_key, order_key = seed_keys(0)
  start = init_state(model, init_key)
  return start, order_key, mg.trajectory(model, to_train_data(data), start=start,
                                         order_key=order_key, steps=STEPS, batch_size=None,
                                         remat_every=7)


def retrained_margin(model, data, start, order_key, batch_size):
  """margin(weights, user, item, rival): the margin of (user, item) over `rival` after
  actually retraining with weights w (one jitted program for every target)."""

  @jax.jit
  def margin(weights, user, item, rival):
    params = fit(model, to_train_data(data), weights, state=start, order_key=order_key,
                 steps=STEPS, batch_size=batch_size).params
    scores = model.predict(params, jnp.stack([user, user]), jnp.stack([item, rival]))
    return scores[0] - scores[1]

  return margin


@pytest.mark.parametrize("batch_size", [None, 16])
def test_metagradient_equals_finite_difference_of_retraining(batch_size, tiny, full_batch):
  data, model = tiny
  start, order_key, traj = full_batch
  if batch_size is not None:
    traj = mg.trajectory(model, to_train_data(data), start=start, order_key=order_key,
                         steps=STEPS, batch_size=batch_size, remat_every=7)
  assert traj.final_grad_norm < 0.05
  user, item, rival = 0, 3, 6
  grads = mg.metagradients(model, traj, [user], [item], [rival])[0]
  rows = data.history_rows(user)[:4]
  with jax.enable_x64(True):  # the retraining of the difference in float64: no round-off
    start64 = jax.tree.map(lambda x: x.astype(jnp.float64) if jnp.issubdtype(
        x.dtype, jnp.floating) else x, start)
    margin = functools.partial(retrained_margin(model, data, start64, order_key, batch_size),
                               user=user, item=item, rival=rival)
    ones, eps = jnp.ones((len(data),), jnp.float64), 1e-4
    for row in rows:
      fd = float((margin(ones.at[row].add(eps)) - margin(ones.at[row].add(-eps))) / (2 * eps))
      assert abs(fd - grads[row]) < 1e-2 * max(abs(fd), 1e-3), (row, fd, grads[row])
  assert np.abs(grads[rows]).max() > 1e-3, "the check must not pass on zeros"


def test_batched_pullback_equals_one_target_at_a_time(tiny, full_batch):
  data, model = tiny
  start, order_key, traj = full_batch
  users, items, rivals = np.array([0, 1, 2]), np.array([3, 4, 5]), np.array([6, -1, 7])
  batched = mg.metagradients(model, traj, users, items, rivals, targets_per_batch=2)
  direct_margin = jax.grad(retrained_margin(model, data, start, order_key, None))
  for b in range(3):
    one = mg.metagradients(model, traj, users[b:b + 1], items[b:b + 1], rivals[b:b + 1])[0]
    np.testing.assert_allclose(batched[b], one, rtol=1e-5, atol=1e-7)
    if rivals[b] >= 0:  # and against jax.grad of the retrained margin itself (no remat)
      direct = direct_margin(jnp.ones((len(data),)), users[b], items[b], rivals[b])
      np.testing.assert_allclose(batched[b], np.asarray(direct), rtol=1e-4, atol=1e-6)
  assert np.abs(batched).max() > 1e-3


def biases_model(num_users, num_items, l2=0.1, lr=0.5):
  """mu + b_u + b_i with a per-row L2 term: strongly convex; trained by gradient descent."""

  def init(key):
    del key
    return {"mu": jnp.zeros(()), "bu": jnp.zeros((num_users,)), "bi": jnp.zeros((num_items,))}

  def predict(params, users, items):
    return params["mu"] + params["bu"][users] + params["bi"][items]

  def row_losses(params, users, items, ratings):
    return (jnp.square(ratings - predict(params, users, items))
            + l2 * (params["bu"][users] ** 2 + params["bi"][items] ** 2))

  return Recommender(name="biases", num_users=num_users, num_items=num_items, init=init,
                     predict=predict, row_losses=row_losses, optimizer=optax.sgd(lr))


def test_on_a_strongly_convex_problem_at_convergence_it_is_the_influence_function():
  data = make_synthetic(num_users=10, num_items=12, density=0.4, seed=2, min_per_user=4)
  model = biases_model(data.num_users, data.num_items)
  spec = RetrainProtocol(steps=1500, batch_size=None, seeds=(0,))
  original = train_original(model, to_train_data(data),
                            RetrainProtocol(steps=spec.steps, seeds=(0,)))
  ctx = ExplainContext.from_original(model, data, original, spec)
  targets = top1_targets(ctx, np.arange(4))
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    meta = get_explainer("metagrad", measure="score").attributions(ctx, targets)
  assert ctx.cache[next(k for k in ctx.cache if k[0] == "metagrad_trajectory")
                   ].final_grad_norm < 1e-5
  influence = get_explainer("influence_function", solver="explicit",
                            damping=0.0).attributions(ctx, targets)
  for m, i in zip(meta, influence):
    keys = sorted(m)
    a, b = np.array([m[k] for k in keys]), np.array([i[k] for k in keys])
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4 * np.abs(b).max())
    assert np.abs(b).max() > 1e-3


def test_explainers_pick_the_largest_metagradients_and_the_adaptive_one_crosses_zero(tiny):
  data, model = tiny
  spec = RetrainProtocol(steps=STEPS, batch_size=None, seeds=(0,))
  original = train_original(model, to_train_data(data), spec)
  ctx = ExplainContext.from_original(model, data, original, spec)
  targets = top1_targets(ctx, np.arange(5))
  explainer = get_explainer("metagrad", e=2)
  records = run_explainer(explainer, ctx, targets)
  attributions = explainer.attributions(ctx, targets)
  for record, scores in zip(records, attributions):
    best = sorted(scores, key=lambda item: -scores[item])[:2]
    assert set(record.deleted_items) == set(best)
    assert record.extra["original_margin"] > 0  # top-1 over the runner-up
  adaptive = run_explainer(get_explainer("metagrad_adaptive", max_e=4), ctx, targets)
  for record, scores in zip(adaptive, attributions):
    order = sorted(scores, key=lambda item: -scores[item])
    size = len(record.deleted_items)
    assert list(record.deleted_items) == order[:size]
    predicted = record.extra["original_margin"] - sum(scores[i] for i in order[:size])
    assert np.isclose(predicted, record.extra["predicted_margin"], atol=1e-6)
    if not record.extra["failed"]:
      assert predicted < 0 < record.extra["original_margin"] - sum(
          scores[i] for i in order[:size - 1])
  assert len([k for k in ctx.cache if k[0] == "metagrad_trajectory"]) == 1, "one forward"


def test_constant_schedule_warns_and_bad_options_are_one_line_errors(constant_ctx):
  ctx = constant_ctx
  data, model, original = ctx.train, ctx.model, ctx.original
  with pytest.warns(UserWarning, match="constant step size"):
    run_explainer(warm_explainer(e=1), ctx, top1_targets(ctx, [0]))
  with pytest.raises(ValueError, match="measure='rank' is not one of"):
    get_explainer("metagrad", measure="rank")
  with pytest.raises(ValueError, match="protocol='cold' is not one of"):
    get_explainer("metagrad", protocol="cold")
  with pytest.raises(ValueError, match="retrains the model"):
    get_explainer("metagrad").attributions(ExplainContext(model, original.params, data),
                                           Targets([0], [int(top1_targets(ctx, [0]).items[0])]))


def test_warm_protocol_differentiates_the_continuation_and_is_zero_after_a_decayed_schedule(
    tiny, constant_ctx):
  data, decayed = tiny
  original = train_original(decayed, to_train_data(data), RetrainProtocol(steps=STEPS))
  decayed_ctx = ExplainContext.from_original(decayed, data, original,
                                            RetrainProtocol(steps=STEPS))
  for ctx, nonzero in ((constant_ctx, True), (decayed_ctx, False)):
    model, original = ctx.model, ctx.original
    targets = top1_targets(ctx, [0])
    explainer = warm_explainer(on_constant_lr="ignore")
    [got] = explainer.attributions(ctx, targets)
    _, order_key = seed_keys(0)
    user, item = int(targets.users[0]), int(targets.items[0])

    def score(weights):
      params = fit(model, to_train_data(data), weights, state=original, order_key=order_key,
                   steps=15).params
      return model.predict(params, jnp.asarray([user]), jnp.asarray([item]))[0]

    direct = np.asarray(jax.grad(score)(jnp.ones((len(data),))))
    rows = data.history_rows(user)
    np.testing.assert_allclose([got[int(data.item[r])] for r in rows], direct[rows],
                               rtol=1e-4, atol=1e-7)
    assert (np.abs(direct[rows]).max() > 1e-4) == nonzero
