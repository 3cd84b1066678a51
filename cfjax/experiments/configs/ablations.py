"""Config of Yao et al.'s ablations (sec. 6.3; `cfjax ablations`): Table 3's
settings on MovieLens with MF, and the variants, each a Table 3 run with these overrides."""

import ml_collections

from cfjax.experiments.configs import table3

PRESETS = table3.PRESETS


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
  """Table 3's `preset`, with
  targets:  LASSO on eq. 3 (reg), eq. 11 (rank), eq. 12 (cross), logistic regression on eq. 4
            (clf) and DeepSets (reg) in place of eq. 8's sum; one simulation serves them all
            (the store holds every target);
  fraction: deletions of 40 % of the history simulated, explanations of e = 3 items."""
  config = table3.get_config(preset)
  config.variants = ml_collections.ConfigDict({
      "targets": {"surrogates": ("lasso_reg", "logreg_clf", "lasso_rank", "lasso_cross",
                                 "deepsets_reg"),
                  "verify_budget": 0, "influence": False},
      "fraction": {"surrogates": ("lasso_reg",), "deletion_fraction": 0.4,
                   "verify_budget": 0, "influence": False},
  })
  return config
