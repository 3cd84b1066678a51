"""The linear datamodeling score (cfjax.evaluate.lds): subsets, margins, paired actual effects
(retrained and amortised), predicted sums, the per-target Spearman and its summary."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from cfjax.data import make_synthetic
from cfjax.data.interactions import Interactions
from cfjax.evaluate.lds import (actual_effects, draw_subsets, lds_scores, lds_summary,
                                margin_decreases, predicted_effects, subset_size,
                                target_margins)
from cfjax.explain import ExplainContext, Targets, get_explainer, top1_targets
from cfjax.models import make_mf
from cfjax.models.base import Recommender
from cfjax.train import RetrainProtocol, to_train_data, train_original
from cfjax.train.counterfactual import deletion_rows, retrain_user_scores


@pytest.fixture(scope="module")
def synthetic():
  return make_synthetic(num_users=400, num_items=40, density=0.3, seed=1, min_per_user=6)


def untrained_context(train):
  """A context whose parameters are the init (the tests that use it never read scores)."""
  model = make_mf(train.num_users, train.num_items, dim=2)
  return ExplainContext(model=model, params=model.init(jax.random.key(0)), train=train)


def unseen_targets(train, users):
  items = [int(np.setdiff1d(np.arange(train.num_items), train.history_items(u))[0])
           for u in users]
  return Targets(np.asarray(users), np.asarray(items))


# ------------------------------------------------------------------------------ subsets


def test_subset_size_rounds_and_keeps_a_strict_nonempty_subset():
  assert [subset_size(n, 0.5) for n in (2, 3, 10, 11)] == [1, 2, 5, 6]  # round half to even
  assert subset_size(10, 0.01) == 1 and subset_size(10, 0.99) == 9


def test_draw_subsets_are_reproducible_distinct_sized_and_from_the_history(synthetic):
  targets = unseen_targets(synthetic, [0, 5, 7])
  subsets = draw_subsets(synthetic, targets, count=8, fraction=0.5, seed=3)
  assert subsets == draw_subsets(synthetic, targets, count=8, fraction=0.5, seed=3)
  assert subsets != draw_subsets(synthetic, targets, count=8, fraction=0.5, seed=4)
  for (user, _), per_target in zip(targets, subsets):
    history = synthetic.history_items(user)
    assert len(per_target) == 8 and len(set(per_target)) == 8
    for subset in per_target:
      assert len(subset) == round(0.5 * len(history)) and list(subset) == sorted(subset)
      assert set(subset) <= set(history.tolist())


def test_draw_subsets_of_a_user_do_not_depend_on_the_other_targets(synthetic):
  alone = draw_subsets(synthetic, unseen_targets(synthetic, [7]), count=5, fraction=0.3,
                       seed=0)
  among = draw_subsets(synthetic, unseen_targets(synthetic, [2, 9, 7, 4]), count=5,
                       fraction=0.3, seed=0)
  assert among[2] == alone[0]


def test_draw_subsets_bad_input_is_one_line():
  train = Interactions.from_dense(np.asarray([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], np.float32))
  with pytest.raises(ValueError, match=r"^user 0's 3 items have only 3 subsets of 2, fewer "
                                       r"than count=4; [^\n]*$"):
    draw_subsets(train, Targets([0], [3]), count=4, fraction=0.5, seed=0)
  with pytest.raises(ValueError, match=r"^user 1 has 1 training items; [^\n]*$"):
    draw_subsets(train, Targets([1], [3]), count=1, fraction=0.5, seed=0)
  with pytest.raises(ValueError, match=r"^LDS deleted fraction=1 must lie strictly between"):
    draw_subsets(train, Targets([0], [3]), count=1, fraction=1.0, seed=0)
  with pytest.raises(ValueError, match=r"^LDS subsets per target \(count\) must be an integer"):
    draw_subsets(train, Targets([0], [3]), count=2.0, fraction=0.5, seed=0)


# ------------------------------------------------------------------------------ margins


def test_margins_by_hand():
  scores = np.asarray([[3.0, 1.0, 5.0, 2.0]])
  seen = np.asarray([[False, False, True, False]])  # item 2 (score 5) is seen: excluded
  assert target_margins(scores, seen, [0]).tolist() == [1.0]  # 3 - max(1, 2)
  after = np.asarray([[[1.0, 4.0, 9.0, 0.0], [3.5, 1.0, 0.0, 2.0]]])
  assert margin_decreases(after, scores, seen, [0]).tolist() == [[4.0, -0.5]]  # 1-(-3), 1-1.5


def test_the_control_itself_decreases_no_margin():
  scores = np.random.default_rng(0).standard_normal((3, 7))
  seen = np.zeros((3, 7), bool)
  seen[:, 0] = True
  change = margin_decreases(scores[:, None, :], scores, seen, [1, 2, 6])
  assert change.shape == (3, 1) and np.all(change == 0.0)


# ------------------------------------------------------------------------------ actual effects


def linear_scorer(weights):
  """An amortised model whose scores of an input row x are x @ W (hand-computable)."""
  w = jnp.asarray(weights, jnp.float32)
  rows = jnp.zeros((1, w.shape[0]))
  return Recommender(name="linear", num_users=2, num_items=w.shape[0], init=lambda key: w,
                     predict=lambda p, u, i: (rows[u] @ p)[jnp.arange(len(i)), i],
                     row_losses=None, score_rows=lambda p, x: x @ p)


def test_amortised_effects_are_the_input_edit_by_hand():
  # 6 items; user 0 has items 0, 1, 2 and target 3 (competitors: 4, 5); user 1 has 2, 3, 4.
  w = np.zeros((6, 6), np.float32)
  w[0] = [0, 0, 0, 3, 2, 0]
  w[1] = [0, 0, 0, 1, 0, 2]
  w[2] = [0, 0, 0, 2, 1, 1]
  w[3] = [0, 1, 0, 0, 0, 0]
  w[4] = [2, 0, 0, 0, 0, 0]
  rows = np.asarray([[1, 1, 1, 0, 0, 0], [0, 0, 1, 1, 1, 0]], np.float32)
  model = linear_scorer(w)
  ctx = ExplainContext(model=model, params=jnp.asarray(w), train=Interactions.from_dense(rows))
  # user 0: s = [0,0,0,6,3,3], margin 3. Delete {0}: s3=3, s4=1, s5=3 -> margin 0, drop 3.
  # Delete {1, 2}: s3=3, s4=2, s5=0 -> margin 1, drop 2.
  # user 1 (target 0; competitors 1, 5): s = [2,1,0,...,s5=1], margin 1. Delete {4}: s0=0,
  # s1=1 -> margin -1, drop 2. Delete {2, 3}: s0=2, s1=0, s5=0 -> margin 2, drop -1.
  targets = Targets([0, 1], [3, 0])
  subsets = [[(0,), (1, 2)], [(4,), (2, 3)]]
  np.testing.assert_array_equal(actual_effects(ctx, targets, subsets), [[3.0, 2.0], [2.0, -1.0]])
  # The target's own score: user 0's s3 = 6 drops to 3 and 3; user 1's s0 = 2 to 0 and 2.
  np.testing.assert_array_equal(actual_effects(ctx, targets, subsets, measure="score"),
                                [[3.0, 3.0], [2.0, 0.0]])


@pytest.fixture(scope="module")
def tiny_mf():
  train = make_synthetic(num_users=10, num_items=20, density=0.4, seed=2, min_per_user=6)
  model = make_mf(train.num_users, train.num_items, dim=3)
  original = train_original(model, to_train_data(train), RetrainProtocol(steps=30, seeds=(0,)))
  return ExplainContext.from_original(model, train, original, RetrainProtocol(steps=30, seeds=(0,)))


def test_retrained_effects_are_paired_with_the_control_of_the_same_call(tiny_mf):
  ctx = tiny_mf
  targets = top1_targets(ctx, [1, 4, 1])  # user 1 twice: its subsets are retrained once
  subsets = draw_subsets(ctx.train, targets, count=3, fraction=0.5, seed=0)
  options = dict(seeds=(0, 1), steps=20, batch_size=16, chunk_size=4)
  actual = actual_effects(ctx, targets, subsets, progress=False, **options)
  # The same retrains by hand: every (user, subset), then one control per user.
  deletions = [(u, deletion_rows(ctx.train, u, s)) for (u, _), per in zip(targets, subsets)
               for s in per]
  scores = retrain_user_scores(ctx.model, ctx.train, deletions + [(1, ()), (4, ())],
                               RetrainProtocol(**options), progress=False)
  expected = []
  for t, (user, item) in enumerate(targets):
    control = scores[len(deletions) + (0 if user == 1 else 1)]
    others = np.setdiff1d(np.arange(ctx.train.num_items),
                          np.append(ctx.train.history_items(user), item))
    after = scores[3 * t:3 * t + 3]
    expected.append((control[item] - control[others].max())
                    - (after[:, item] - after[:, others].max(axis=1)))
  np.testing.assert_array_equal(actual, expected)
  np.testing.assert_array_equal(actual[0], actual[2])
  assert np.all(actual != 0)
  drops = actual_effects(ctx, targets, subsets, progress=False, measure="score", **options)
  np.testing.assert_array_equal(drops[1], scores[len(deletions) + 1, targets.items[1]]
                                - scores[3:6, targets.items[1]])
  both = actual_effects(ctx, targets, subsets, progress=False, measure=("margin", "score"),
                        **options)  # one retraining, both measures
  np.testing.assert_array_equal(both["margin"], actual)
  np.testing.assert_array_equal(both["score"], drops)


def test_actual_effects_bad_input_is_one_line(tiny_mf):
  ctx = tiny_mf
  targets = top1_targets(ctx, [1])
  item = int(ctx.train.history_items(1)[0])
  with pytest.raises(ValueError, match=r"^LDS retraining steps must be an integer"):
    actual_effects(ctx, targets, [[(item,)]])
  with pytest.raises(ValueError,
                     match=r"^measure='rank': pass one or more of \('margin', 'score'\)$"):
    actual_effects(ctx, targets, [[(item,)]], steps=5, measure="rank")
  with pytest.raises(ValueError, match=r"^1 subset lists for 2 targets; [^\n]*$"):
    actual_effects(ctx, top1_targets(ctx, [1, 2]), [[(item,)]], steps=5)
  with pytest.raises(ValueError, match=r"^target 0: subset \(\) must be non-empty"):
    actual_effects(ctx, targets, [[()]], steps=5)
  stranger = int(targets.items[0])
  with pytest.raises(ValueError, match=rf"^target 0: subset \({stranger},\) must be"):
    actual_effects(ctx, targets, [[(stranger,)]], steps=5)


# ------------------------------------------------------------------------------ the score


def test_predicted_effects_are_subset_sums_by_hand():
  attributions = [{1: 0.5, 2: -1.0, 3: 2.0}, {4: 1.5}]
  subsets = [[(1, 2), (3,), (1, 9)], [(4,), (5,), (4, 5)]]  # 9 and 5 have no attribution
  np.testing.assert_array_equal(predicted_effects(attributions, subsets),
                                [[-0.5, 2.0, 0.5], [1.5, 0.0, 1.5]])


def test_an_oracle_scores_exactly_one_per_target():
  actual = np.random.default_rng(0).standard_normal((200, 8))
  assert np.all(lds_scores(actual, actual) == 1.0)
  assert np.all(lds_scores(np.exp(actual), actual) == 1.0)  # only the order counts
  assert np.all(lds_scores(-actual, actual) == -1.0)


def test_planted_truth_oracle_one_random_control_zero(synthetic):
  # Actual effects that are exactly additive in planted per-item effects: the planted
  # attributions score 1 on every target; the `random` explainer's ~0 on average.
  ctx = untrained_context(synthetic)
  targets = unseen_targets(synthetic, np.arange(synthetic.num_users))
  rng = np.random.default_rng(0)
  truth = [dict(zip(synthetic.history_items(u).tolist(),
                    rng.standard_normal(len(synthetic.history_items(u))).tolist()))
           for u, _ in targets]
  subsets = draw_subsets(synthetic, targets, count=8, fraction=0.5, seed=0)
  actual = predicted_effects(truth, subsets)
  assert np.all(lds_scores(predicted_effects(truth, subsets), actual) == 1.0)
  placebo = get_explainer("random", seed=0).attributions(ctx, targets)
  summary = lds_summary(lds_scores(predicted_effects(placebo, subsets), actual))
  # 400 targets: the mean of independent Spearmans over 8 points has sd ~0.38 / 20 = 0.019.
  assert summary["targets"] == 400 and abs(summary["mean"]) < 0.06
  assert summary["ci95"][0] < 0 < summary["ci95"][1]


def test_constant_sides_give_nan_and_bad_shapes_are_one_line():
  predicted = np.asarray([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
  actual = np.asarray([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [3.0, 1.0, 2.0]])
  scores = lds_scores(predicted, actual)
  assert np.isnan(scores[:2]).all() and scores[2] == pytest.approx(-0.5)
  with pytest.raises(ValueError, match=r"^predicted \(2, 3\) and actual \(3, 3\) must share"):
    lds_scores(predicted[:2], actual)
  with pytest.raises(ValueError, match=r"^actual effects of target 1 are not finite"):
    lds_scores(predicted, np.where(actual == 0.0, np.nan, actual))


def test_summary_is_the_t_interval_over_finite_targets():
  summary = lds_summary([0.2, 0.4, 0.6, np.nan])
  half = scipy.stats.t.ppf(0.975, 2) * 0.2 / math.sqrt(3)
  assert summary["targets"] == 3 and summary["excluded"] == 1
  assert summary["mean"] == pytest.approx(0.4)
  np.testing.assert_allclose(summary["ci95"], [0.4 - half, 0.4 + half])
  one = lds_summary([0.5, np.nan])
  assert one["mean"] == 0.5 and np.isnan(one["ci95"]).all() and one["targets"] == 1
  assert np.isnan(lds_summary([np.nan])["mean"])
