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
