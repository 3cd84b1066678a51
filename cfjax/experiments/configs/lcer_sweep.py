"""Config of Wen et al.'s (LCER) Figures 8-9, the lambda and alpha sweep
(`cfjax lcer_sweep`)."""

import ml_collections

from cfjax.experiments.configs.lcer_table2 import base_config


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
  """Table 2's preparation (`base_config`), K = 5, and the paper's grids (section 4.1):
  lambda in {0.01, ..., 0.05} at the paper's alpha, alpha in {0.02, ..., 0.1} at its lambda."""
  config = base_config(preset)
  config.k = 5
  config.lambdas = (0.01, 0.02, 0.03, 0.04, 0.05)
  config.alphas = (0.02, 0.04, 0.06, 0.08, 0.1)
  # A finished lcer_table2 run whose baselines give the dashed lines (None:
  # results/lcer_table2/<dataset>-<preset>).
  config.table2_dir = ml_collections.FieldReference(None, field_type=str)
  return config
