"""Config of the retrain-verified benchmark (`cfjax benchmark`)."""

import ml_collections

from cfjax.data import default_cache_dir
from cfjax.explain import explainers_costing
from cfjax.models import MODELS

PRESETS = ("smoke", "default", "paper")


def _registered(name: str) -> dict:
  """The model's registered training recipe as config entries (batch size None: full batch)."""
  recipe = MODELS.get(name).recipe
  batch_size = recipe.batch_size or ml_collections.FieldReference(None, field_type=int)
  return {"steps": recipe.steps, "batch_size": batch_size, "hparams": dict(recipe.hparams)}


def model_settings() -> ml_collections.ConfigDict:
  """Per-model training of the original: steps, batch size (None: full batch) and extra
  hyperparameters (Yao et al.'s Table 3 settings, docs/surrogate.md)."""
  # MF and ACCENT's NeuMF (Table 3's personalising settings: L2 1e-4, Adam 1e-2, 1,246-row
  # minibatches) as registered (cfjax.models.MODELS: the recipe `cfjax explain` trains by)
  mf, ncf = _registered("mf"), _registered("ncf")
  # the top-N models (cfjax.workflows.topn.MODEL_PRESETS, docs/models.md); full batch
  bpr = {"steps": 800, "batch_size": ml_collections.FieldReference(None, field_type=int),
         "hparams": {"dim": 64, "l2": 1e-3, "learning_rate": 0.003}}
  lightgcn = {"steps": 400, "batch_size": ml_collections.FieldReference(None, field_type=int),
              "hparams": {"dim": 64, "num_layers": 3, "l2": 1e-4, "learning_rate": 0.01}}
  # closed form: steps do not matter; verification refits exactly (Woodbury)
  ease = {"steps": 1, "batch_size": ml_collections.FieldReference(None, field_type=int),
          "hparams": {"l2": 500.0}}
  return ml_collections.ConfigDict({"mf": mf, "ncf": ncf, "bpr": bpr, "lightgcn": lightgcn,
                                    "ease": ease})


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
  """smoke: MovieLens, MF, 4 targets, seconds per phase; default: MF and NCF on MovieLens
  and Amazon, Mult-VAE on MovieLens, 24 targets (the CPU scale, docs/benchmark.md);
  paper: 200 targets and longer training, for an accelerator."""
  if preset not in PRESETS:
    raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
  config = ml_collections.ConfigDict()
  config.preset = preset
  config.datasets = ("movielens-100k", "amazon-digital-music")
  config.models = ("mf", "ncf", "multvae")  # multvae runs on movielens-100k / ml-1m only
  config.data_dir = ml_collections.FieldReference(None, field_type=str)
  config.seed = 0
  config.train_fraction = 0.7
  config.users = 24  # targets: each test user's top-1 unseen item
  config.budgets = (1, 3, 5)  # e of the methods that take a size
  # per-method budgets instead ("surrogate": all eight): the surrogates at the paper's e = 3,
  # so the CPU preset retrains 20 explanations per target instead of 36
  config.method_budgets = ml_collections.ConfigDict({"surrogate": (3,)})
  config.ks = (1, 3, 5)  # validity at K
  config.methods = ()  # empty: every registered explainer the model has the hooks for
  # exhaustive is the gold standard of set size, not a method to rank: it refuses histories
  # with more than max_subsets subsets (benchmarks/minimality_bench.py runs it)
  config.exclude = ("exhaustive",)
  if preset != "paper":
    # the methods that declare themselves slow (cost "slow"): minutes per target on 2 CPU
    # cores: the certified search retrains its candidates to a bound, the metagradients
    # differentiate through every training step (their own benchmarks:
    # benchmarks.minimality_bench, benchmarks.metagrad_bench; and the metagradient needs a
    # decaying schedule, which MF's constant-lr Yao settings are not)
    config.exclude = tuple(sorted({"exhaustive", *explainers_costing("slow")}))
  # options per method ("surrogate": every surrogate); e is set from budgets
  config.method_options = ml_collections.ConfigDict({
      "surrogate": {"max_candidates": 20_000},
      "verified": {"budget": 2, "per_round": 2, "max_candidates": 20_000},
      "lcer": {"k": 1, "steps": 3000}, "kaffes": {"k": 1}, "loo_fia": {"k": 1},
      "loo_accent": {"k": 1},
      # pairs per vmapped FIA batch; 1 for a graph model (LightGCN), whose explicit FIA
      # Hessian vmaps a full-graph propagation per direction and pair (~6 GB a pair on ML-100K)
      "accent": {"targets_per_batch": 16}, "fia": {"targets_per_batch": 16},
      "pure_fia": {"targets_per_batch": 16}})
  config.protocols = ml_collections.ConfigDict({
      # retrain from the original's init and batch order: the deletion is the only difference
      "scratch_paired": {"kind": "scratch", "seed_offsets": (0,), "steps": None},
      # continue the trained original and its Adam state, under its seed
      "warm_paired": {"kind": "warm", "seed_offsets": (0,), "steps": 100},
      # retrain under another seed: the cross-seed robustness column (one seed: vmapping
      # seeds of a full-batch model is ~4x slower per model on CPU, docs/engine.md)
      "scratch_cross": {"kind": "scratch", "seed_offsets": (1,), "steps": None},
      # continue the trained original with full-batch L-BFGS until ||grad|| < tol (at most
      # `steps` steps): the verdict of a fixed point, not of a step count. Full-batch MF only
      # (a minibatch original is far from its full-batch optimum); ~500 L-BFGS steps, 7 s a
      # model on 2 CPU cores (docs/engine.md), so off on CPU: turn it on with
      # --config.protocols.warm_converged.enabled=true
      "warm_converged": {"kind": "warm", "seed_offsets": (0,), "steps": 1000, "tol": 1e-5,
                         "models": ("mf",), "enabled": False},
  })
  config.rank_by = "scratch_paired"
  config.simulation = ml_collections.ConfigDict(
      {"users": 24, "subsets": 24, "size": 3, "heldout_fraction": 0.2, "top_n": 20})
  config.lds = ml_collections.ConfigDict({"users": 20, "subsets": 12, "fraction": 0.5})
  config.model_settings = model_settings()
  config.multvae = ml_collections.ConfigDict({"epochs": 200})
  config.chunk_size = ml_collections.FieldReference(None, field_type=int)
  config.cache_dir = default_cache_dir("originals")
  config.output_dir = ""
  if preset == "smoke":
    config.datasets = ("movielens-100k",)
    config.models = ("mf",)
    # a few methods of every family (the default preset runs them all)
    config.methods = ("knn", "influence_function", "fia", "accent", "lasso_reg", "verified")
    config.users = 4
    config.budgets = (1, 3)
    config.ks = (1, 3)
    config.method_options.surrogate.max_candidates = 200
    config.method_options.verified.max_candidates = 200
    config.method_options.verified.budget = 1
    config.method_options.lcer.steps = 100
    config.protocols.warm_paired.steps = 10
    config.model_settings.mf.steps = 40
    config.model_settings.ncf.steps = 60
    config.model_settings.bpr.steps = 100
    config.model_settings.lightgcn.steps = 60
    config.simulation.update(users=6, subsets=4)
    config.lds.update(users=2, subsets=4)
    config.multvae.epochs = 10
  elif preset == "paper":
    config.users = 200
    config.method_budgets = ml_collections.ConfigDict()
    config.protocols.scratch_cross.seed_offsets = (1, 2)
    config.protocols.warm_converged.enabled = True
    config.simulation.update(users=200, subsets=200)
    config.lds.update(users=100, subsets=32)
    config.method_options.surrogate.max_candidates = 100_000
    config.model_settings.mf.steps = 600
    config.model_settings.ncf.steps = 3000
  return config
