"""Yao et al.'s ablations (sec. 6.3, App. A) on MovieLens with MF, via the Table 3 runner.

Variants, each a Table 3 run into <output_dir>/<variant>:
  targets:   lasso on eq. 3 (reg) vs. eq. 11 (rank) vs. eq. 12 (cross), and DeepSets
             (one simulation serves them all: the store holds every target).
  fraction:  simulate deletions of 40 % of the history, explain with 3 items.

  python -m experiments.ablations --preset=smoke|default
"""

from __future__ import annotations

import pathlib

from absl import app

from experiments import table3, yao_common

VARIANTS = {
    "targets": dict(yao_surrogates=["lasso_reg", "lasso_rank", "lasso_cross", "deepsets_reg"],
                    yao_verify_budget=0, yao_influence=False),
    "fraction": dict(yao_surrogates=["lasso_reg"], yao_deletion_fraction=0.4,
                     yao_verify_budget=0, yao_influence=False),
}


def run(settings: dict, progress: bool = True) -> str:
  """Runs every variant (MF, the dataset of `settings`); returns their tables."""
  full = yao_common.load_dataset(settings["dataset"], settings["data_dir"])
  texts = []
  for name, overrides in VARIANTS.items():
    variant = {**settings, **overrides,
               "output_dir": str(pathlib.Path(settings["output_dir"]) / name)}
    texts.append(f"## {name}\n\n" + table3.run_model(variant, "mf", full, progress))
  return "\n".join(texts)


def main(argv):
  del argv
  settings = table3.settings_from_flags()
  if not table3.FLAGS["output_dir"].present:
    settings["output_dir"] = f"results/ablations/{settings['dataset']}-{settings['preset']}"
  print(run(settings))


if __name__ == "__main__":
  app.run(main)
