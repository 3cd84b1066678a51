"""ACCENT's attention baselines (sec. 3.3.1): the selection rules by hand, and on RCF."""

import functools

import numpy as np
import pytest

from cfjax.data.rcf import synthetic_rcf
from cfjax.explain import (ExplainContext, MissingHookError, get_explainer, run_explainer,
                           top1_targets)
from cfjax.explain.attention import attention_order, select
from cfjax.models import make_mf, make_model
from cfjax.train import RetrainProtocol, to_train_data, train_original

# A hand-built case: 3 history rows with attention 0.5, 0.3, 0.2; top-3 scores (rec first)
# [1.0, 0.9, 0.5]; removing a set of rows moves the scores additively by these amounts:
EFFECT = {0: np.array([-0.10, 0.0, 0.0]),  # raises rec by 0.1 (widens the gap)
          1: np.array([0.15, 0.0, 0.0]),   # lowers rec by 0.15
          2: np.array([0.10, 0.0, 0.0])}   # lowers rec by 0.1
INITIAL = np.array([1.0, 0.9, 0.5])


def scores_without(positions):
  return INITIAL - sum((EFFECT[p] for p in positions), np.zeros(3))


def test_attention_order_is_by_decreasing_weight_ties_to_lower_position():
  order = attention_order(np.array([0.2, 0.5, 0.5, 0.9]), np.array([True, True, True, False]))
  assert order.tolist() == [1, 2, 0]


def test_pure_attention_removes_every_row_in_order_until_rec_is_displaced():
  # gap 0.1 -> 0.2 (row 0) -> 0.05 (rows 0, 1) -> -0.05 (rows 0, 1, 2): displaced by item 1.
  removed, best, gap, scores, success = select(np.array([0, 1, 2]), scores_without, INITIAL,
                                               keep_only_improving=False)
  assert success and removed == [0, 1, 2] and best == 1
  np.testing.assert_allclose(gap, 0.85 - 0.9)
  np.testing.assert_allclose(scores, [0.85, 0.9, 0.5])


def test_attention_keeps_only_rows_that_shrink_the_gap():
  # Row 0 widens the gap (0.1 -> 0.2): skipped; row 1 alone closes it: 0.85 - 0.9 < 0.
  removed, best, gap, scores, success = select(np.array([0, 1, 2]), scores_without, INITIAL,
                                               keep_only_improving=True)
  assert success and removed == [1] and best == 1
  np.testing.assert_allclose(gap, 0.85 - 0.9)


def test_a_search_that_never_displaces_rec_fails():
  # Row 2 shrinks the gap to 0 (kept) but does not make it negative.
  removed, best, gap, _, success = select(np.array([2]), scores_without, INITIAL, True)
  assert not success and removed == [2] and best == -1
  np.testing.assert_allclose(gap, 0.0, atol=1e-12)


@functools.lru_cache(maxsize=None)
def rcf_context():
  data = synthetic_rcf(num_users=6, num_items=10, per_user=5, seed=2)
  model = make_model("rcf", data, hidden=4, attention=3, layers=(4,), learning_rate=0.1)
  original = train_original(model, to_train_data(data), RetrainProtocol(steps=30, seeds=(0,)))
  ctx = ExplainContext.from_original(model, data, original, RetrainProtocol(steps=30, seeds=(0,)))
  return ctx, top1_targets(ctx, np.arange(6))


@pytest.mark.slow  # RCF's first compile: ~1-3 minutes on 2 shared cores
@pytest.mark.parametrize("name", ["pure_attention", "attention"])
def test_on_rcf_the_found_set_displaces_rec_with_parameters_fixed(name):
  ctx, targets = rcf_context()
  records = run_explainer(get_explainer(name, replacement_k=4), ctx, targets)
  assert len(records) == len(targets)
  model = ctx.model
  for r in records:
    if r.extra["failed"]:
      continue
    history = ctx.train.history_items(r.user).tolist()
    assert set(r.deleted_items) <= set(history)
    kept = np.ones(len(ctx.train), np.float32)
    kept[ctx.train.rows_of(r.user, list(r.deleted_items))] = 0
    params = model.attach_weights(ctx.params, kept)
    top = np.asarray(r.extra["top_k"])
    new = np.asarray(model.predict(params, np.full(len(top), r.user), top))
    assert new[top.tolist().index(r.replacement)] > new[0]  # the replacement overtakes rec
    assert r.extra["attention_order"][0] in history
  assert any(not r.extra["failed"] for r in records)


def test_models_without_attention_refuse_in_one_line():
  from cfjax.data import make_synthetic
  data = make_synthetic(num_users=4, num_items=8, density=0.5, min_per_user=2)
  model = make_mf(data.num_users, data.num_items, dim=2)
  original = train_original(model, to_train_data(data), RetrainProtocol(steps=2, seeds=(0,)))
  ctx = ExplainContext.from_original(model, data, original)
  with pytest.raises(MissingHookError, match="attention_weights"):
    run_explainer(get_explainer("attention"), ctx, top1_targets(ctx, [0]))
