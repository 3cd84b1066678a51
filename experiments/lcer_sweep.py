r"""Wen et al. (LCER), Figures 8-9: LCER's Val, Len, PS, PN and F_NS as lambda or alpha varies.

  python -m experiments.lcer_sweep --dataset=ml-100k --preset=smoke

lambda in {0.01, ..., 0.05} at the paper's alpha, then alpha in {0.02, ..., 0.1} at the paper's
lambda (section 4.1 grid), top-5. Writes sweep.csv, config.json and, if matplotlib is
installed, sweep.png to --output_dir (default results/lcer_sweep/<dataset>-<preset>). Mult-VAE is
trained once and shared by every grid point.
"""

from __future__ import annotations

import csv
import json
import pathlib
import sys

from absl import app, flags

from experiments import common_flags  # noqa: F401  (defines the shared flags)
from experiments import lcer_common
from cfjax.evaluate.lcer_metrics import lcer_metrics

FLAGS = flags.FLAGS
flags.DEFINE_list("lcer_sweep_lambdas", ["0.01", "0.02", "0.03", "0.04", "0.05"], "lambda grid.")
flags.DEFINE_list("lcer_sweep_alphas", ["0.02", "0.04", "0.06", "0.08", "0.1"], "alpha grid.")
flags.DEFINE_integer("lcer_sweep_k", 5, "Top-K of the sweep.")

FIELDS = ["param", "lam", "alpha", "validity", "length", "ps", "pn", "f_ns"]


def sweep(s: dict, lambdas, alphas, k: int) -> list[dict]:
  """One row per grid point (LCER only)."""
  prep = lcer_common.prepare(s)
  rows = []
  grid = [("lambda", float(v), s["alpha"]) for v in lambdas]
  grid += [("alpha", s["lam"], float(v)) for v in alphas]
  for param, lam, alpha in grid:
    point = dict(s, lam=lam, alpha=alpha)
    records, _ = lcer_common.explain_all(point, prep, k, methods=["lcer"])
    m = lcer_metrics(records["lcer"], len(records["lcer"]))
    rows.append({"param": param, "lam": lam, "alpha": alpha,
                 **{f: m[f] for f in FIELDS[3:]}})
    print(rows[-1])
  return rows


def plot(rows: list[dict], path: pathlib.Path) -> bool:
  """sweep.png like Figures 8-9 (PS, PN, F_NS lines; length bars); False without matplotlib."""
  try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
  except ImportError:
    return False
  fig, axes = plt.subplots(1, 2, figsize=(10, 4))
  for ax, param, key in ((axes[0], "lambda", "lam"), (axes[1], "alpha", "alpha")):
    sub = [r for r in rows if r["param"] == param]
    xs = [r[key] for r in sub]
    bar = ax.twinx()
    bar.bar(range(len(xs)), [r["length"] or 0 for r in sub], alpha=0.3, color="gray")
    bar.set_ylabel("length")
    for metric in ("ps", "pn", "f_ns"):
      ax.plot(range(len(xs)), [r[metric] or 0 for r in sub], marker="o", label=metric.upper())
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_xlabel(param)
    ax.legend()
  fig.tight_layout()
  fig.savefig(path)
  return True


def main(argv):
  del argv
  dataset = lcer_common.canonical_dataset(FLAGS.dataset)
  if dataset in lcer_common.OFFLINE:
    print(f"{lcer_common.OFFLINE[dataset]}: its files are not available offline; run "
          "--dataset=ml-100k or ml-1m", file=sys.stderr)
    return 1
  s = lcer_common.settings(dataset=dataset, preset=FLAGS.preset, seed=FLAGS.seed,
                           data_dir=FLAGS.data_dir, methods=["lcer"], chunk_size=FLAGS.chunk_size)
  out = pathlib.Path(FLAGS.output_dir or f"results/lcer_sweep/{dataset}-{FLAGS.preset}")
  out.mkdir(parents=True, exist_ok=True)
  rows = sweep(s, FLAGS.lcer_sweep_lambdas, FLAGS.lcer_sweep_alphas, FLAGS.lcer_sweep_k)
  with open(out / "sweep.csv", "w", newline="", encoding="utf-8") as f:
    writer = csv.DictWriter(f, FIELDS)
    writer.writeheader()
    writer.writerows(rows)
  (out / "config.json").write_text(json.dumps({"runner": "lcer_sweep", "settings": s}, indent=2))
  print("plot:", plot(rows, out / "sweep.png"))
  return 0


if __name__ == "__main__":
  app.run(main)
