"""Config of ACCENT's Table 1 (`python -m experiments.accent_table1`)."""

import ml_collections

from cfjax.papers.accent import PAPER_STEPS

PRESETS = ("smoke", "default", "paper")


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
  """The settings of a preset.

  smoke: 6 users, a 5,000-step original, one epoch (49 steps) of verification (about a
  minute); default: all 452 users, the paper's 120,000-step original, five epochs (245 steps)
  of verification (its time on 2 CPU cores is in docs/accent.md); paper: the paper's 120,000
  verification steps too (for an accelerator).

  Args:
    preset: "smoke", "default" or "paper".

  Returns:
    The config (fields described inline below).

  Raises:
    ValueError: on an unknown preset.
  """
  if preset not in PRESETS:
    raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
  config = ml_collections.ConfigDict()
  config.preset = preset
  config.dataset = "accent-ml100k"
  config.data_dir = ml_collections.FieldReference(None, field_type=str)
  config.model = "ncf"  # Table 1's NCF half (RCF is not implemented yet)
  config.seed = 0  # the original's training, the sampled users and the placebos
  config.users = ml_collections.FieldReference(None, field_type=int)  # None: all 452
  config.train_steps = PAPER_STEPS  # minibatch Adam steps of the original
  config.batch_size = 1246  # rows per step of the original's training
  config.verify_steps = PAPER_STEPS  # warm retraining steps per verification
  config.verify_seeds = 5  # retraining seeds 0..n-1 (they change the batch order)
  # rows per verification step; 0 = full batch, as ACCENT's NCF retrain.py feeds all kept rows
  config.verify_batch_size = 1246
  # retrain each verification to convergence instead (full batch, L-BFGS from the warm start,
  # until the gradient norm falls below this, at most verify_steps steps; one seed: full-batch
  # retraining has no randomness); None: verify_steps of Adam
  config.verify_tol = ml_collections.FieldReference(None, field_type=float)
  config.chunk_size = ml_collections.FieldReference(None, field_type=int)  # None: 8 on CPU
  config.cache_dir = "results/cache/originals"  # trained originals, shared between runs
  config.output_dir = ""
  if preset == "smoke":
    config.users = 6
    config.train_steps = 5_000
    config.verify_steps = 49
  elif preset == "default":
    # Five epochs of warm retraining: one epoch moved scores too little to tell the methods
    # from the placebo, the paper's 120,000 steps would take weeks on a CPU (docs/accent.md).
    config.verify_steps = 245
  return config
