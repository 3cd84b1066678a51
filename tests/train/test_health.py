"""The health check every trained original goes through (`train_original`,
`train_original_exact`, `cfjax.pipeline.trained_original`): a diverged or degenerate model is
refused in one line naming the number, before any explanation is verified against it."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfjax import data as cd
from cfjax import rank
from cfjax.explain import ExplainContext, top1_targets
from cfjax.models import make_model
from cfjax.train import RetrainProtocol, to_train_data, train_original, train_original_exact
from cfjax.train.health import (DegenerateModelWarning, DivergedError, check_scores_spread,
                                check_training)


@pytest.fixture(scope="module")
def small():
  return cd.make_synthetic(num_users=12, num_items=20, density=0.3, seed=0)


def one_line(error) -> None:
  assert "\n" not in str(error.value)


@pytest.mark.parametrize("train", [train_original, train_original_exact])
def test_the_library_path_refuses_a_diverged_original(small, train):
  model = make_model("mf", small, dim=2, learning_rate=1e3)
  with pytest.raises(DivergedError, match=r"diverged: training loss .* after 20 steps") as error:
    train(model, to_train_data(small), RetrainProtocol(steps=20, chunk_size=1))
  one_line(error)


def test_check_false_leaves_the_check_to_the_caller(small):
  model = make_model("mf", small, dim=2, learning_rate=1e3)
  data = to_train_data(small)
  state = train_original(model, data, RetrainProtocol(steps=20), check=False)
  with pytest.raises(DivergedError, match="diverged"):
    check_training(model, data, initial=model.init(jax.random.PRNGKey(0)),
                   trained=state.params, steps=20)


def test_mf_on_implicit_feedback_ranks_nothing_and_is_refused(small):
  implicit = dataclasses.replace(small, rating=np.ones_like(small.rating))
  model = make_model("mf", implicit, dim=2)
  with pytest.raises(DivergedError, match=r"degenerate: every score is 1 .* ranks nothing"):
    train_original(model, to_train_data(implicit), RetrainProtocol(steps=300))


def test_a_loss_below_its_floor_is_refused(small):
  model = make_model("mf", small, dim=2)
  shifted = dataclasses.replace(  # a loss term that rewards something: the total goes below 0
      model, row_losses=lambda *args, **kwargs: model.row_losses(*args, **kwargs) - 100.0)
  data = to_train_data(small)
  initial = model.init(jax.random.PRNGKey(0))
  trained = jax.tree.map(lambda leaf: leaf * 0.5, initial)
  with pytest.raises(DivergedError, match=r"training loss -\d.* is below 0") as error:
    check_training(shifted, data, initial=initial, trained=trained, steps=1)
  one_line(error)


def test_degenerate_scores():
  with pytest.raises(DivergedError, match="2 of 6 scores are not finite"):
    check_scores_spread(np.array([[1.0, np.inf, 2.0], [np.nan, 1.0, 0.0]]), what="m")
  with pytest.raises(DivergedError, match="every score is 3 "):
    check_scores_spread(np.full((4, 5), 3.0), what="m")
  with pytest.warns(DegenerateModelWarning, match="not personalised: all 3 probed users"):
    check_scores_spread(np.tile(np.arange(5.0), (3, 1)), what="m")
  check_scores_spread(np.arange(15.0).reshape(3, 5), what="m")  # healthy: silent


def test_tied_top1_is_counted_and_warned(small):
  scores = np.array([[1.0, 1.0 + 1e-7, 0.5], [3.0, 2.0, 1.0], [2.0, 5.0, 2.0]])
  seen = np.array([[False, False, False], [False, False, False], [False, True, False]])
  assert rank.tied_top1(scores, seen).tolist() == [True, False, True]  # seen 5.0 is skipped
  assert rank.tied_at_top(np.array([[4.568, 4.561], [1.0, 1.0]])).tolist() == [False, True]
  with pytest.warns(rank.TiedScoresWarning, match="2 of 3 users' top-1 is tied"):
    assert rank.warn_tied_top1(scores, seen) == 2
  model = make_model("mf", small, dim=2)
  flat = jax.tree.map(jnp.zeros_like, model.init(jax.random.PRNGKey(0)))  # every score 0
  ctx = ExplainContext(model=model, params=flat, train=small)
  with pytest.warns(rank.TiedScoresWarning, match="3 of 3 users' top-1 is tied"):
    top1_targets(ctx, [0, 1, 2])
  with pytest.warns(rank.TiedScoresWarning, match="1 of 1 users"):
    rank.top1_targets(model, flat, small, [4])
