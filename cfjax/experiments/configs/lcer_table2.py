"""Config of Wen et al.'s (LCER) Table 2 (`cfjax lcer_table2`).

`base_config` holds the fields Tables 2, 3 and the sweep share (the Mult-VAE preparation and
the methods' budgets); Table 3 and the sweep build on it.
"""

import ml_collections

from cfjax.data import default_cache_dir

PRESETS = ("smoke", "default", "paper")


def base_config(preset: str) -> ml_collections.ConfigDict:
  """The fields every LCER table shares.

  smoke: a 20-epoch Mult-VAE, 10 test users, 300 LCER steps, KaffesCE budget 10 (about a
  minute on two CPU cores); default and paper: the paper's settings (200 epochs, 3000 steps,
  budget 30) on 100 test users (all of ML-100K's; ML-1M explains 100 of its 500).
  """
  if preset not in PRESETS:
    raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
  config = ml_collections.ConfigDict()
  config.preset = preset
  config.dataset = "movielens-100k"  # or ml-1m; alishop / epinions: see docs/datasets.md
  config.data_dir = ml_collections.FieldReference(None, field_type=str)
  config.seed = 0  # Mult-VAE training; split seed 98765 + seed, LCER keys 1000 + seed
  config.heldout_users = ml_collections.FieldReference(None, field_type=int)  # None: 100 / 500
  config.epochs = 200  # Mult-VAE epochs (best epoch by validation NDCG@100)
  config.num_users = 100  # the first test users explained (each user's top-K items)
  config.steps = 3000  # LCER Adam steps per (user, item) pair
  config.kaffes_expansions = 30  # KaffesCE search budget
  config.lam = ml_collections.FieldReference(None, field_type=float)  # None: the paper's
  config.alpha = ml_collections.FieldReference(None, field_type=float)  # None: the paper's
  config.targets_per_batch = ml_collections.FieldReference(None, field_type=int)  # LCER pairs/call
  config.cache_dir = default_cache_dir("lcer")  # trained Mult-VAEs and LCER grid points
  config.output_dir = ""
  if preset == "smoke":
    config.epochs = 20
    config.num_users = 10
    config.steps = 300
    config.kaffes_expansions = 10
  return config


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
  """Table 2: FIA, KaffesCE, ACCENT and LCER at K = 5 and 10 (`base_config` for the rest)."""
  config = base_config(preset)
  config.methods = ("fia", "kaffes", "accent", "lcer")
  config.ks = (5, 10)
  return config
