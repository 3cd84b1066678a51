"""Config of the top-N accuracy runner (`cfjax topn`).

Training settings and hyperparameters come from `cfjax.workflows.topn.MODEL_PRESETS` for the
(dataset, model); set steps / batch_size / epochs or hparams.<name> to override them.
"""

import ml_collections

PRESETS = ("smoke", "default")


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
  """smoke: a few training steps (seconds, checks the wiring); default: the model's preset."""
  if preset not in PRESETS:
    raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
  config = ml_collections.ConfigDict()
  config.preset = preset
  config.dataset = "movielens-100k"
  config.data_dir = ml_collections.FieldReference(None, field_type=str)
  config.model = "ease"
  config.seed = 0
  config.holdout = 0.2  # fraction of each user's rows held out for the test
  config.keep_above = ml_collections.FieldReference(None, field_type=float)  # None: all rows
  config.ks = (20,)
  config.steps = ml_collections.FieldReference(None, field_type=int)
  config.batch_size = ml_collections.FieldReference(None, field_type=int)
  config.epochs = ml_collections.FieldReference(None, field_type=int)  # Mult-VAE
  config.vae_batch_size = 500
  config.total_anneal_steps = 200_000
  # overrides of the preset's hyperparameters (None: the preset's)
  config.hparams = ml_collections.ConfigDict({
      name: ml_collections.FieldReference(None, field_type=kind)
      for name, kind in (("dim", int), ("num_layers", int), ("l2", float),
                         ("learning_rate", float))})
  config.output_dir = ""
  if preset == "smoke":
    config.steps = 5
    config.epochs = 2
  return config
