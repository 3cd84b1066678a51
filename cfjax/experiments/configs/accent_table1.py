"""Config of ACCENT's Table 1 (`cfjax accent_table1`)."""

import ml_collections

from cfjax.data import default_cache_dir
from cfjax.papers.accent import PAPER_STEPS

PRESETS = ("smoke", "default", "paper")


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
  """The settings of a preset.

  NCF: smoke: 6 users, a 5,000-step original, one epoch (49 steps) of verification (about a
  minute); default: all 452 users, the paper's 120,000-step original, five epochs (245 steps)
  of verification (its time on 2 CPU cores is in docs/accent.md); paper: the paper's 120,000
  verification steps too (for an accelerator).
  RCF (--model=rcf; rcf_* fields): smoke: 1 user, a 1-epoch original, 1 warm step x 2 seeds;
  default: 2 users, the same original, 2 warm steps x ACCENT's 5 seeds (CPU); paper:
  ACCENT's protocol: all 452 users, 50 epochs, scratch retraining (init fixed) for 50 epochs
  per shuffling seed 2512, 3512, 4091, 4214, 9846 (for an accelerator).

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
  config.model = "ncf"  # Table 1's NCF half; "rcf" its RCF half; "all" both
  config.seed = 0  # the original's training, the sampled users and the placebos
  config.users = ml_collections.FieldReference(None, field_type=int)  # None: all 452
  config.train_steps = PAPER_STEPS  # minibatch Adam steps of the original
  config.batch_size = 1246  # rows per step of the original's training
  # ACCENT's k: sizes of the top-k list the replacement comes from (top-2..top-k); not the
  # validity K
  config.replacement_ks = (5, 10, 20)
  config.verify_steps = PAPER_STEPS  # warm retraining steps per verification
  config.verify_seeds = 5  # retraining seeds 0..n-1 (they change the batch order)
  # rows per verification step; 0 = full batch, as ACCENT's NCF retrain.py feeds all kept rows
  config.verify_batch_size = 1246
  # retrain each verification to convergence instead (full batch, L-BFGS from the warm start,
  # until the gradient norm falls below this, at most verify_steps steps; one seed: full-batch
  # retraining has no randomness); None: verify_steps of Adam
  config.verify_tol = ml_collections.FieldReference(None, field_type=float)
  config.chunk_size = ml_collections.FieldReference(None, field_type=int)  # None: 8 on CPU
  config.cache_dir = default_cache_dir("originals")  # trained originals, shared between runs
  # RCF half (cfjax/papers/accent.py rcf_half; data accent-rcf, ACCENT's RCF settings in the model):
  # epochs of the original and of each from-scratch verification retrain (ACCENT: 50 each),
  # rows per step (512), and the shuffling seeds (init fixed), scores averaged over them.
  config.rcf_train_epochs = 50
  config.rcf_verify_epochs = 50
  config.rcf_batch_size = 512
  config.rcf_verify_seeds = (2512, 3512, 4091, 4214, 9846)
  # "scratch" (ACCENT: retrain from the fixed init) or "warm" (continue from the original for
  # rcf_verify_steps; a CPU stand-in); rcf_verify_steps None: rcf_verify_epochs epochs
  config.rcf_verify_protocol = "scratch"
  config.rcf_verify_steps = ml_collections.FieldReference(None, field_type=int)
  config.rcf_users = ml_collections.FieldReference(None, field_type=int)  # None: all 452
  config.output_dir = ""
  if preset == "smoke":
    config.users = 6
    config.train_steps = 5_000
    config.verify_steps = 49
    config.rcf_users = 1
    config.rcf_train_epochs = 1
    config.rcf_verify_protocol = "warm"
    config.rcf_verify_steps = 1
    config.rcf_verify_seeds = (2512, 3512)
  elif preset == "default":
    # Five epochs of warm retraining: one epoch moved scores too little to tell the methods
    # from the placebo, the paper's 120,000 steps would take weeks on a CPU (docs/accent.md).
    config.verify_steps = 245
    # RCF costs ~1 s of CPU per 512-triple step (2+ s wall on the shared 2 cores): its
    # attention reads the user's whole history for both items of every triple. ACCENT's
    # scratch verification (50 epochs = 4,700 steps per retrain and seed) is therefore for an
    # accelerator (preset "paper"). The CPU default: a 1-epoch original, 2 users, and warm
    # verification (continue from the original without the CF set for 2 steps; the history
    # edit acts at once) over ACCENT's five shuffling seeds. docs/accent.md has its run time.
    config.rcf_users = 2
    config.rcf_train_epochs = 1
    config.rcf_verify_protocol = "warm"
    config.rcf_verify_steps = 2
  return config
