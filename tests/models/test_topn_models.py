"""BPR-MF, LightGCN and EASE: the deletion is exactly the counterfactual for each.

- EASE's Woodbury counterfactual (vmapped over deletions) equals refitting EASE without the
  rows, and the engine's closed-form route equals both;
- LightGCN with a row weighted 0 is LightGCN built without that edge;
- BPR with nothing deleted reproduces the original bitwise, and every model of a retrain batch
  trains on the same sampled negatives.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfjax.data import make_synthetic
from cfjax.models import make_bpr, make_ease, make_lightgcn, make_model
from cfjax.models.base import Recommender
from cfjax.models.bpr import uniform_negatives
from cfjax.models.ease import counterfactual_scores, ease_weights, fitted_params
from cfjax.train import (RetrainProtocol, deleted_weights, fit, init_state, retrain, seed_keys,
                         to_train_data, train_original, train_original_exact)
from cfjax.train.batched import state_readout, user_scores_readout
from cfjax.train.counterfactual import retrain_user_scores
from cfjax.train.fit import step_key


def tiny(seed=0, users=12, items=15):
  return make_synthetic(num_users=users, num_items=items, density=0.4, seed=seed,
                        min_per_user=4)


# ---------------------------------------------------------------------------------- EASE
def refit_without(data, rows, l2, user):
  """EASE refit from scratch on the data without `rows`: the user's scores x'_u B'."""
  kept = data.select(np.setdiff1d(np.arange(len(data)), rows))
  x = np.zeros((data.num_users, data.num_items), np.float32)
  x[kept.user, kept.item] = 1.0
  b, _ = ease_weights(jnp.asarray(x), l2)
  return x[user] @ np.asarray(b)


def test_ease_closed_form_matches_steck_by_hand():
  data = tiny()
  model = make_ease(data.num_users, data.num_items, data.user, data.item, l2=2.0)
  b = np.asarray(fitted_params(model)["B"], np.float64)
  x = np.zeros((data.num_users, data.num_items))
  x[data.user, data.item] = 1.0
  p = np.linalg.inv(x.T @ x + 2.0 * np.eye(data.num_items))
  expected = np.eye(data.num_items) - p / np.diag(p)[None, :]
  np.testing.assert_allclose(b, expected, atol=1e-5)
  assert np.all(np.diag(b) == 0)


def test_ease_vmapped_counterfactual_equals_refitting_without_the_rows():
  data = tiny(seed=1)
  l2 = 3.0
  model = make_ease(data.num_users, data.num_items, data.user, data.item, l2=l2)
  r0, r3 = data.history_rows(0), data.history_rows(3)
  deletions = [list(r0[:2]), [int(r3[0])], list(r0[:1]) + list(r3[1:3]), []]
  users = np.asarray([0, 3, 3, 5])
  packed = np.full((len(deletions), 3), -1, np.int32)
  for m, rows in enumerate(deletions):
    packed[m, :len(rows)] = rows
  got = counterfactual_scores(model, packed, users)
  for m, rows in enumerate(deletions):
    np.testing.assert_allclose(got[m], refit_without(data, rows, l2, users[m]), atol=1e-5)
  # the deletion matters (not a trivially equal comparison)
  assert np.abs(got[0] - refit_without(data, [], l2, 0)).max() > 1e-2


def test_ease_engine_route_equals_woodbury_and_verification_uses_it():
  data = tiny(seed=2)
  model = make_model("ease", data, l2=2.0)
  rows = [tuple(int(r) for r in data.history_rows(1)[:2]), ()]
  engine = retrain(model, to_train_data(data),
                   np.asarray([[rows[0][0], rows[0][1]],
                                                           [-1, -1]]),
                   RetrainProtocol(steps=1, seeds=[0, 7], chunk_size=1),
                   readout=user_scores_readout(model), readout_args=np.asarray([1, 1], np.int32),
                   progress=False)
  outputs = np.asarray(engine.outputs)
  np.testing.assert_array_equal(outputs[:, 0], outputs[:, 1])  # seeds do not matter
  woodbury = retrain_user_scores(model, data, [(1, rows[0]), (1, ())],
                                 RetrainProtocol(steps=1, seeds=[0]))
  np.testing.assert_allclose(outputs[:, 0], woodbury, atol=1e-5)
  np.testing.assert_allclose(woodbury[0], refit_without(data, list(rows[0]), 2.0, 1),
                             atol=1e-5)


# ------------------------------------------------------------------------------ LightGCN
def test_lightgcn_with_an_edge_weighted_zero_equals_lightgcn_built_without_it():
  data = tiny(seed=3)
  deleted = int(data.history_rows(2)[1])
  kept = np.setdiff1d(np.arange(len(data)), [deleted])
  full = make_lightgcn(data.num_users, data.num_items, data.user, data.item, dim=4,
                       num_layers=2)
  without = make_lightgcn(data.num_users, data.num_items, data.user[kept], data.item[kept],
                          dim=4, num_layers=2)
  params = full.init(jax.random.PRNGKey(0))
  weights = deleted_weights(jnp.asarray([deleted]), len(data))
  zeroed = full.attach_weights(params, weights)
  built = {**params, "edge_weight": jnp.ones(len(kept))}
  users = jnp.arange(data.num_users)
  np.testing.assert_allclose(full.scores(zeroed, users), without.scores(built, users),
                             atol=1e-6)
  np.testing.assert_allclose(full.item_embeddings(zeroed), without.item_embeddings(built),
                             atol=1e-6)
  # ...while keeping the edge changes the scores: the edge, not only the loss term, is gone
  assert np.abs(np.asarray(full.scores(params, users) - full.scores(zeroed, users))).max() > 1e-4
  # and the weighted training loss is the loss without the row (same negatives per row)
  key = jax.random.PRNGKey(5)
  losses_full = full.row_losses(zeroed, data.user, data.item, data.rating, key=key)
  negatives = uniform_negatives(key, len(data), data.num_items)
  assert negatives.shape == (len(data),)
  weighted = float(jnp.sum(weights * losses_full) / jnp.sum(weights))
  # the same draws restricted to the kept rows: compare through the weighted mean
  np.testing.assert_allclose(weighted, float(jnp.mean(losses_full[kept])), rtol=1e-6)


def test_lightgcn_retrain_reads_the_graph_of_each_deletion():
  data = tiny(seed=4)
  model = make_model("lightgcn", data, dim=4, num_layers=2, learning_rate=0.05)
  rows = data.history_rows(0)[:2]
  result = retrain(model, to_train_data(data), np.asarray([[rows[0], rows[1]], [-1, -1]]),
                   RetrainProtocol(steps=3, seeds=[0], chunk_size=2), readout=state_readout,
                   progress=False)
  weights = np.asarray(result.outputs.params["edge_weight"])[:, 0]
  assert weights[0][rows].tolist() == [0.0, 0.0] and weights[0].sum() == len(data) - 2
  assert np.all(weights[1] == 1.0)


def test_lightgcn_refuses_other_rows_in_one_line():
  data = tiny()
  model = make_model("lightgcn", data, dim=4)
  with pytest.raises(ValueError, match="built for .* training rows"):
    model.attach_weights(model.init(jax.random.PRNGKey(0)), jnp.ones(len(data) - 1))


# ----------------------------------------------------------------------------------- BPR
def test_bpr_with_nothing_deleted_reproduces_the_original_bitwise():
  data = tiny(seed=5)
  model = make_model("bpr", data, dim=4, learning_rate=0.05)
  train = to_train_data(data)
  for batch_size, chunk in ((None, 1), (8, 4)):
    original = train_original_exact(model, train,
                                    RetrainProtocol(steps=12, batch_size=batch_size, seeds=(0,),
                                                    chunk_size=chunk))
    rows = data.history_rows(0)[:1]
    result = retrain(model, train, np.asarray([[rows[0]], [-1], [-1], [-1]]),
                     RetrainProtocol(steps=12, batch_size=batch_size, seeds=[0], chunk_size=chunk),
                     readout=state_readout, progress=False)
    for m in (1, 2, 3):
      for leaf, ref in zip(jax.tree.leaves(result.outputs.params), jax.tree.leaves(original.params)):
        np.testing.assert_array_equal(np.asarray(leaf)[m, 0], np.asarray(ref))
    changed = np.asarray(result.outputs.params["user_factors"])[0, 0]
    assert not np.array_equal(changed, np.asarray(original.params["user_factors"]))
  # full batch: a loop of one model
  alone = train_original(model, train, RetrainProtocol(steps=12, seeds=(0,)))
  exact = train_original_exact(model, train, RetrainProtocol(steps=12, seeds=(0,), chunk_size=1))
  for leaf, ref in zip(jax.tree.leaves(alone.params), jax.tree.leaves(exact.params)):
    np.testing.assert_array_equal(np.asarray(leaf), np.asarray(ref))


def given_negatives_twin(model: Recommender) -> Recommender:
  """BPR-MF reading its negatives from a row column instead of sampling them."""

  def row_losses(params, users, items, ratings, *, negative):
    del ratings
    return _bpr_loss(params, users, items, negative, model.hparams["l2"])

  return Recommender(name="bpr-given", num_users=model.num_users, num_items=model.num_items,
                     init=model.init, predict=model.predict, scores=model.scores,
                     row_losses=row_losses, optimizer=model.optimizer,
                     row_columns=("negative",))


def _bpr_loss(params, users, items, negatives, l2):
  p = params["user_factors"][users]
  q_pos, q_neg = params["item_factors"][items], params["item_factors"][negatives]
  b_pos, b_neg = params["item_bias"][items], params["item_bias"][negatives]
  margin = jnp.sum(p * (q_pos - q_neg), axis=-1) + b_pos - b_neg
  norms = (jnp.sum(p * p, -1) + jnp.sum(q_pos * q_pos, -1) + jnp.sum(q_neg * q_neg, -1)
           + b_pos * b_pos + b_neg * b_neg)
  return -jax.nn.log_sigmoid(margin) + l2 * norms


def test_every_model_of_a_batch_trains_on_the_same_sampled_negatives():
  """Each retrained model equals a step-by-step replay that feeds it the negatives drawn from
  step_key(seed, t) and nothing else: so all deletions of a batch saw exactly those."""
  data = tiny(seed=6)
  model = make_bpr(data.num_users, data.num_items, dim=4, learning_rate=0.05, l2=1e-3)
  twin = given_negatives_twin(model)
  train = to_train_data(data)
  deletions = np.asarray([[-1, -1], [0, 5], [int(data.history_rows(3)[0]), -1]])
  steps = 4
  result = retrain(model, train, deletions, RetrainProtocol(steps=steps, seeds=[1], chunk_size=3),
                   readout=state_readout, progress=False)
  init_key, order_key = seed_keys(1)

  @jax.jit
  def replay_step(state, weights, negatives):
    rows = train.replace(extra={"negative": negatives})
    return fit(twin, rows, weights, state=state, order_key=order_key, steps=1)

  def replay(weights, seed_order_key):
    state = init_state(model, init_key)
    for t in range(steps):
      state = replay_step(state, weights, uniform_negatives(step_key(seed_order_key, t),
                                                            len(data), data.num_items))
    return state

  for m, rows in enumerate(deletions):
    state = replay(deleted_weights(jnp.asarray(rows), len(data)), order_key)
    np.testing.assert_allclose(np.asarray(result.outputs.params["item_factors"])[m, 0],
                               np.asarray(state.params["item_factors"]), atol=1e-5)
  # a replay with another seed's negatives does not match (the test can fail)
  other = replay(jnp.ones(len(data)), seed_keys(2)[1])
  assert np.abs(np.asarray(result.outputs.params["item_factors"])[0, 0]
                - np.asarray(other.params["item_factors"])).max() > 1e-4


def test_bpr_learns_to_rank_positives_first():
  data = tiny(seed=7, users=20, items=25)
  model = make_model("bpr", data, dim=8, learning_rate=0.05, l2=1e-4)
  state = train_original(model, to_train_data(data), RetrainProtocol(steps=150, seeds=(0,)))
  scores = np.asarray(model.scores(state.params, jnp.arange(data.num_users)))
  seen = data.seen_matrix()
  auc = np.mean([np.mean(scores[u][seen[u]][:, None] > scores[u][~seen[u]][None, :])
                 for u in range(data.num_users)])
  assert auc > 0.9


def test_verify_runs_on_ease_through_its_exact_refit():
  from cfjax.evaluate import verify
  from cfjax.explain import ExplainContext, get_explainer, run_explainer, top1_targets
  from cfjax.train import RetrainProtocol
  data = tiny(seed=8)
  model = make_model("ease", data, l2=2.0)
  original = train_original(model, to_train_data(data), RetrainProtocol(steps=1, seeds=(0,)))
  ctx = ExplainContext.from_original(model, data, original, RetrainProtocol(steps=1))
  targets = top1_targets(ctx, np.arange(3))
  records = run_explainer(get_explainer("knn", e=2), ctx, targets)
  verified = verify(records, model=model, train=data, original=original,
                    protocol=RetrainProtocol(steps=1, seeds=[0]), ks=[1])
  for record, outcome in zip(records, verified):
    rows = list(data.rows_of(record.user, record.deleted_items))
    expected = refit_without(data, rows, 2.0, record.user)[record.item]
    np.testing.assert_allclose(outcome.item_score_new, expected, atol=1e-5)
    assert outcome.original_rank == 1  # the control is the original exactly: no noise
