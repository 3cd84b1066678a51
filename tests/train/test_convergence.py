"""Retraining to convergence: the gradient norm reaches the tolerance, and on a ridge problem
the result is the closed-form optimum of the data without the deleted rows."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cfjax.models import Recommender
from cfjax.train import Convergence, RetrainProtocol, TrainData, retrain

N, D, L2 = 120, 4, 0.1


@pytest.fixture(scope="module")
def ridge():
  """A linear "recommender": f(item i) = x_i . w, squared loss, L2 penalty: ridge regression,
  whose optimum is w* = (X'X / n + L2 I)^-1 X'y / n over the kept rows."""
  rng = np.random.default_rng(0)
  features = rng.normal(size=(N, D)).astype(np.float32)
  ratings = (features @ rng.normal(size=D) + 0.1 * rng.normal(size=N)).astype(np.float32)
  x = jnp.asarray(features)
  predict = lambda params, users, items: x[items] @ params["w"]
  model = Recommender(name="ridge", num_users=1, num_items=N,
                      init=lambda key: {"w": jnp.zeros(D)}, predict=predict,
                      row_losses=lambda p, u, i, r: (r - predict(p, u, i)) ** 2,
                      penalty=lambda p: L2 * jnp.sum(p["w"] ** 2), optimizer=optax.adam(0.05))
  data = TrainData(jnp.zeros(N, jnp.int32), jnp.arange(N, dtype=jnp.int32), jnp.asarray(ratings))
  return model, data, features, ratings


def closed_form(features, ratings, kept):
  x, y = features[kept], ratings[kept]
  return np.linalg.solve(x.T @ x / len(y) + L2 * np.eye(D), x.T @ y / len(y))


@pytest.mark.parametrize("method", ["lbfgs", "adam"])
def test_converged_retraining_is_the_ridge_optimum_without_the_rows(ridge, method):
  model, data, features, ratings = ridge
  deleted = np.array([[0, 1, 2, 3], [10, 20, -1, -1], [-1, -1, -1, -1]])
  until = Convergence(tol=1e-6, max_steps=3000, method=method)
  result = retrain(model, data, deleted,
                   RetrainProtocol(steps=0, seeds=[0], until=until, chunk_size=3), control=True,
                   progress=False)
  for m, rows in enumerate(deleted):
    kept = np.setdiff1d(np.arange(N), rows[rows >= 0])
    np.testing.assert_allclose(result.outputs["w"][m, 0], closed_form(features, ratings, kept),
                               atol=2e-5)
  assert (np.asarray(result.converged.grad_norm) < until.tol).all()
  assert (np.asarray(result.converged.steps) >= 1).all()
  assert float(result.control_converged.grad_norm[0]) < until.tol


def test_each_model_stops_on_its_own_and_reports_it(ridge):
  model, data, *_ = ridge
  result = retrain(model, data, np.array([[0], [-1]]),
                   RetrainProtocol(steps=0, seeds=[0, 1], until=Convergence(tol=1e-6, max_steps=3,
                                   method="adam")),
                   progress=False)
  np.testing.assert_array_equal(result.converged.steps, 3)  # the budget, not the tolerance
  assert (np.asarray(result.converged.grad_norm) > 1e-6).all()


def test_convergence_needs_full_batches_and_sane_settings(ridge):
  model, data, *_ = ridge
  with pytest.raises(ValueError, match="training to convergence needs full batches"):
    retrain(model, data, np.array([[0]]),
            RetrainProtocol(steps=0, batch_size=10, seeds=[0], until=Convergence()), progress=False)
  with pytest.raises(ValueError, match="method='newton' must be 'lbfgs' or 'adam'"):
    Convergence(method="newton")
  with pytest.raises(ValueError, match="max_steps=0 must be >= 1"):
    Convergence(max_steps=0)


def test_a_small_mf_reaches_the_tolerance_with_lbfgs(tiny_data):
  from cfjax.models import make_mf
  model = make_mf(12, 15, dim=2, learning_rate=0.05)
  result = retrain(model, tiny_data, np.array([[0, 1], [-1, -1]]),
                   RetrainProtocol(steps=0, seeds=[0], until=Convergence(tol=1e-4, max_steps=2000),
                                   chunk_size=2),
                   progress=False)
  assert (np.asarray(result.converged.grad_norm) < 1e-4).all()
  assert (np.asarray(result.converged.steps) < 2000).all()


def test_a_cosine_schedule_ends_at_a_fixed_point(tiny_data):
  """With the step size decayed to 0, continuing training changes nothing (warm protocol)."""
  from cfjax.models import make_mf
  from cfjax.train import train_original
  model = make_mf(12, 15, dim=2, learning_rate=0.05, schedule="cosine", decay_steps=30)
  original = train_original(model, tiny_data, RetrainProtocol(steps=30, seeds=(0,)))
  again = retrain(model, tiny_data, np.array([[-1]]),
                  RetrainProtocol(steps=20, seeds=[1], kind="warm"), original=original,
                  progress=False)
  for name in ("user_factors", "item_factors"):
    np.testing.assert_array_equal(again.outputs[name][0, 0], original.params[name])
