"""Yao et al.'s Table 2: average generation time per explanation, from a Table 3 run.

Reads <table3 results>/<model>/explanations.jsonl (every record keeps its explainer's
timing in `extra`) and writes table2.md beside it, the paper's seconds next to ours.

  python -m experiments.table2 --output_dir=results/table3/movielens-default [--model=mf]
"""

from __future__ import annotations

import json
import pathlib

from absl import app, flags
import numpy as np

from cfjax import evaluate
from experiments import common_flags  # noqa: F401  (output_dir, model)
from experiments import yao_common

FLAGS = flags.FLAGS

# Table 2 (MovieLens, MF): seconds per explanation.
PAPER_SECONDS = {"knn": 1.25e-3, "influence_function": 6.47, "lasso_reg": 1.75, "mlp_reg": 2.60}
TIME_KEYS = ("seconds", "seconds_per_pair")


def seconds_by_method(path: pathlib.Path) -> dict[str, float]:
  """method -> mean seconds per explanation over explanations.jsonl (timed methods only)."""
  times: dict[str, list[float]] = {}
  for line in path.read_text().splitlines():
    record = json.loads(line)
    extra = record.get("extra") or {}
    value = next((extra[k] for k in TIME_KEYS if k in extra), None)
    if value is not None:
      times.setdefault(record["method"], []).append(float(value))
  return {m: float(np.mean(v)) for m, v in times.items()}


def table2(results_dir: str | pathlib.Path, model: str = "mf") -> str:
  """Writes and returns the markdown Table 2 of one Table 3 results directory."""
  folder = pathlib.Path(results_dir) / model
  seconds = seconds_by_method(folder / "explanations.jsonl")
  fmt = lambda v: "-" if v is None else f"{v:.3g}"
  rows = [[yao_common.LABELS.get(m, m), fmt(s), fmt(PAPER_SECONDS.get(m))]
          for m, s in seconds.items()]
  text = evaluate.markdown_table(["method", "seconds / explanation (ours)", "paper"], rows)
  (folder / "table2.md").write_text(text)
  return text


def main(argv):
  del argv
  print(table2(FLAGS.output_dir or "results/table3/movielens-default", FLAGS.model))


if __name__ == "__main__":
  app.run(main)
