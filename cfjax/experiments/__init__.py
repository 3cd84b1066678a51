"""The experiment runners, reachable after a plain install: `cfjax <runner> [flags]`
(`python -m cfjax.experiments.<runner>`, and from a clone `python -m experiments.<runner>`).

Each runner is an absl app that reads its settings from `configs/<runner>.py` and calls one
library pipeline (`cfjax.papers`, `cfjax.workflows`); results go to
results/<runner>/<dataset>-<model>-<preset> under the working directory unless --output_dir.

  cli             what every runner shares: flags, config loading, one-line errors
  configs         each runner's `get_config(preset)`
  ablations, accent_table1, benchmark, lcer_sweep, lcer_table2, lcer_table3, retrain_verify,
  table2, table3, topn
                  the runners (RUNNERS: name -> one line)

Importing this package is cheap (no JAX): `cfjax --help` lists RUNNERS from here.
"""

from __future__ import annotations

import importlib

RUNNERS = {
    "table3": "Yao et al.'s Table 3: validity of surrogate explanations vs. baselines",
    "table2": "Yao et al.'s Table 2: seconds per explanation, one at a time and batched",
    "ablations": "Yao et al.'s ablations: other targets, DeepSets, 40 % deletions",
    "accent_table1": "ACCENT's Table 1: pure FIA, FIA and ACCENT on NCF, verified",
    "lcer_table2": "LCER's Table 2: FIA, KaffesCE, ACCENT and LCER on Mult-VAE",
    "lcer_table3": "LCER's Table 3: KaffesCE and ACCENT vs LCER at a similar length",
    "lcer_sweep": "LCER's Figures 8-9: its metrics as lambda or alpha varies",
    "benchmark": "every registered explainer that fits each model, one protocol",
    "retrain_verify": "knn vs. a random placebo vs. the noise floor, verified by retraining",
    "topn": "top-N accuracy (Recall@K, NDCG@K) of a recommender",
}


def run(name: str, flags: list[str]) -> None:
  """Runs the runner `name` with its absl `flags` (e.g. ["--preset=smoke"]) as `cfjax <name>`.

  Raises:
    ValueError: `name` is not one of RUNNERS.
  """
  if name not in RUNNERS:
    raise ValueError(f"unknown runner {name!r}; choose one of {', '.join(RUNNERS)}")
  module = importlib.import_module(f"cfjax.experiments.{name}")
  module.main([f"cfjax {name}", *flags])
