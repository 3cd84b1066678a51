"""How good the recommender itself is, reported beside every explanation table."""

from __future__ import annotations

import numpy as np

from cfjax.data.interactions import Interactions
from cfjax.models.base import Recommender
from cfjax.types import Params


def rmse(model: Recommender, params: Params, data: Interactions) -> float:
  """Root mean squared error of the predicted ratings on `data` (e.g. the test split)."""
  prediction = np.asarray(model.predict(params, data.user, data.item), dtype=np.float64)
  return float(np.sqrt(np.mean(np.square(prediction - data.rating))))


def constant_rmse(train: Interactions, test: Interactions) -> float:
  """RMSE on `test` of the constant predictor that always says the training mean rating."""
  return float(np.sqrt(np.mean(np.square(test.rating - np.mean(train.rating)))))


def fit_warnings(model_rmse: float, baseline_rmse: float) -> list[str]:
  """A warning line when the model predicts held-out ratings worse than the constant
  predictor: its top-K lists (and every explanation of them) reflect an unfitted model."""
  if model_rmse <= baseline_rmse:
    return []
  return [f"warning: the model's test RMSE {model_rmse:.3f} is worse than always predicting "
          f"the training mean ({baseline_rmse:.3f}); it has not learned the ratings (train "
          "longer), so these explanations explain noise"]
