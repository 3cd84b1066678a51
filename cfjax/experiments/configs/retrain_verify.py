"""Config of the retrain-and-verify study (`cfjax retrain_verify`)."""

import ml_collections

PRESETS = ("smoke", "default")


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
  """smoke: 3 users, 30 steps (seconds); default: 20 users, 600 full-batch Adam steps."""
  if preset not in PRESETS:
    raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
  config = ml_collections.ConfigDict()
  config.preset = preset
  config.dataset = "movielens-100k"
  config.data_dir = ml_collections.FieldReference(None, field_type=str)
  config.model = "mf"
  # the model's Adam step size (None: the model's default, MF 0.05, NCF 1e-3)
  config.learning_rate = ml_collections.FieldReference(None, field_type=float)
  # "constant" Adam, or "cosine": the step size decays to 0 over `steps` (a fixed point;
  # docs/engine.md compares the two)
  config.schedule = "constant"
  config.seed = 0
  config.train_fraction = 0.7
  config.num_users = 20  # users explained (each user's top-1 unseen item)
  config.steps = 600  # full-batch Adam steps of the original and of each retrain
  config.deletion_size = 3  # items deleted per explanation (knn and the placebo)
  config.chunk_size = ml_collections.FieldReference(None, field_type=int)
  config.output_dir = ""
  if preset == "smoke":
    config.num_users = 3
    config.steps = 30
  return config
