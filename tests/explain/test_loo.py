"""Wen et al.'s footnote-9 FIA and ACCENT (leave-one-out influences) on known linear scorers."""

import jax.numpy as jnp
import numpy as np
import pytest

from cfjax.data.interactions import Interactions
from cfjax.explain import ExplainContext, Targets, get_explainer, run_explainer
from cfjax.explain.loo import LeaveOneOut, accent_select, fia_select, leave_one_out_scores
from cfjax.models import Recommender

X = np.array([1, 1, 1, 0, 0], np.float32)  # the user's items: 0, 1, 2


def linear_score(params, x):
  return x @ params["w"] + params["b"]


def scorer(target_weights, replacement_weights=(0.0, 0.0, 0.0), *, target_base=0.0,
           replacement_base=0.0):
  """Item 3 (the target) and item 4 (the replacement) as linear functions of items 0..2."""
  w = np.zeros((5, 5), np.float32)
  w[:3, 3], w[:3, 4] = target_weights, replacement_weights
  b = np.array([0, 0, 0, target_base, replacement_base], np.float32)
  return {"w": jnp.asarray(w), "b": jnp.asarray(b)}


def test_leave_one_out_scores_remove_one_item_per_row():
  params = scorer([1.0, 0.2, 0.1])
  hist, scores = leave_one_out_scores(linear_score, params, X)
  np.testing.assert_array_equal(hist, [0, 1, 2])
  np.testing.assert_allclose(scores[:, 3], [1.3, 0.3, 1.1, 1.2], rtol=1e-6)


def test_fia_and_accent_on_a_known_case():
  params = scorer([1.0, 0.2, 0.1], [0.0, 0.0, 0.6])  # 3 relies on item 0, 4 on item 2
  hist, scores = leave_one_out_scores(linear_score, params, X)
  assert fia_select(hist, scores, 3) == (0,)
  # gap 1.3 - 0.6 = 0.7; gap influences: item 0 1.0, item 1 0.2, item 2 0.1 - 0.6 = -0.5.
  assert accent_select(hist, scores, 3, 4) == (0,)


def test_accent_adds_items_until_the_estimated_gap_is_negative():
  # gap 1.0 - 0.3 = 0.7; influences 0.5, 0.4, 0.1: after item 0 the gap is 0.2, after item 1
  # it is -0.2 < 0, so ACCENT stops there.
  params = scorer([0.5, 0.4, 0.1], replacement_base=0.3)
  hist, scores = leave_one_out_scores(linear_score, params, X)
  assert accent_select(hist, scores, 3, 4) == (0, 1)


def test_accent_finds_nothing_when_the_gap_cannot_close():
  # gap 2.3 - 0.3 = 2.0; all three influences (0.1 each) only bring it to 1.7.
  params = scorer([0.1, 0.1, 0.1], target_base=2.0, replacement_base=0.3)
  hist, scores = leave_one_out_scores(linear_score, params, X)
  assert accent_select(hist, scores, 3, 4) == ()
  assert fia_select(hist, scores, 3) == (0,)  # ties go to the first item of the history


def test_registered_explainers_through_the_protocol():
  # Item 3 (1.3) and item 4 (0.6) are the user's top-1 and top-2: with K = 1 the replacement
  # of loo_accent is item 4.
  params = scorer([1.0, 0.2, 0.1], [0.0, 0.0, 0.6])
  inputs = jnp.asarray(X[None])
  model = Recommender(name="linear", num_users=1, num_items=5, init=lambda key: params,
                      predict=lambda p, users, items: linear_score(p, inputs[users])[
                          jnp.arange(users.shape[0]), items],
                      scores=lambda p, users: linear_score(p, inputs[users]),
                      score_rows=linear_score)
  ctx = ExplainContext(model=model, params=params, train=Interactions.from_dense(X[None]))
  targets = Targets([0], [3])
  (fia,) = run_explainer(get_explainer("loo_fia", k=1), ctx, targets)
  (accent,) = run_explainer(get_explainer("loo_accent", k=1), ctx, targets)
  assert (fia.method, fia.deleted_items, fia.replacement) == ("loo_fia", (0,), None)
  assert (accent.method, accent.deleted_items, accent.replacement) == ("loo_accent", (0,), 4)
  assert ("loo_scores", 0) in ctx.cache  # the two methods share the leave-one-out scores


def test_unknown_variant_is_a_one_line_error():
  with pytest.raises(ValueError, match="'loo_fia' or 'loo_accent'"):
    LeaveOneOut(name="loo_other").explain(None, None)
