"""Config of Yao et al.'s Table 2 (`cfjax table2`): Table 3's settings for one
recommender, the methods the paper times, and optionally a finished Table 3 run to reuse."""

import ml_collections

from cfjax.experiments.configs import table3

PRESETS = table3.PRESETS


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
  """Table 3's `preset`, timing KNN, the influence function and the two regression
  surrogates on MF (Table 2: MovieLens, MF)."""
  config = table3.get_config(preset)
  config.surrogates = ("lasso_reg", "mlp_reg")  # Table 2's surrogates (fitted once, timed)
  config.verify_budget = 0  # Table 2 explains only; nothing is retrained after the search
  # a finished Table 3 run with these settings (its output_dir): its simulation is reused
  config.table3_dir = ""
  return config
