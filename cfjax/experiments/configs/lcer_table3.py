"""Config of Wen et al.'s (LCER) Table 3, the length-matched comparison
(`cfjax lcer_table3`)."""

import ml_collections

from cfjax.experiments.configs.lcer_table2 import base_config

LAMBDAS = {"smoke": (0.01, 0.03, 0.05), "default": (0.01, 0.02, 0.03, 0.04, 0.05),
           "paper": (0.01, 0.02, 0.03, 0.04, 0.05)}


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
  """Table 2's preparation (`base_config`), K = 5 and LCER's lambda grid (the paper's
  {0.01, ..., 0.05}; smoke {0.01, 0.03, 0.05})."""
  config = base_config(preset)
  config.k = 5
  config.lambdas = LAMBDAS[preset]
  # A finished lcer_table2 run to reuse (None: results/lcer_table2/<dataset>-<preset>).
  config.table2_dir = ml_collections.FieldReference(None, field_type=str)
  return config
