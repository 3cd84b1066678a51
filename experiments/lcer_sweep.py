r"""Wen et al. (LCER), Figures 8-9: LCER's Val, Len, PS, PN and F_NS as lambda or alpha varies.

  python -m experiments.lcer_sweep --dataset=ml-100k --preset=smoke

lambda in {0.01, ..., 0.05} at the paper's alpha, then alpha in {0.02, ..., 0.1} at the paper's
lambda (section 4.1 grid), top-5. Writes sweep.csv (one row per grid point, plus
`baseline:<method>` rows from a finished lcer_table2 run with the same settings, the dashed
lines of the figures), config.json and, if matplotlib is installed (optional, not a
dependency), sweep.png to --output_dir (default results/lcer_sweep/<dataset>-<preset>).
Mult-VAE is trained once and shared by every grid point; grid points are cached in
results/lcer_cache/ (shared with lcer_table3), so reruns resume and reuse Table 2/3 points.
"""

from __future__ import annotations

import csv
import json
import pathlib
import time

from absl import app, flags

from experiments import common_flags  # noqa: F401  (defines the shared flags)
from experiments import lcer_common
from cfjax.evaluate.lcer_metrics import lcer_metrics

FLAGS = flags.FLAGS
flags.DEFINE_list("lcer_sweep_lambdas", ["0.01", "0.02", "0.03", "0.04", "0.05"], "lambda grid.")
flags.DEFINE_list("lcer_sweep_alphas", ["0.02", "0.04", "0.06", "0.08", "0.1"], "alpha grid.")
flags.DEFINE_integer("lcer_sweep_k", 5, "Top-K of the sweep.")

FIELDS = ["param", "lam", "alpha", "validity", "length", "ps", "pn", "f_ns", "found", "pairs",
          "source", "seconds"]


def sweep(s: dict, lambdas, alphas, k: int, *, table2_dir=None, cache_root=None,
          progress=print) -> tuple[list[dict], list[dict]]:
  """One row per grid point (LCER only), plus the baselines' rows if a finished Table 2 run
  with the same settings is available (the dashed lines of Figures 8-9).

  Grid points are cached in `lcer_common.cache_dir(s)` (shared with lcer_table3), so an
  interrupted sweep resumes point by point and points Table 3 computed are reused.
  """
  prep = lcer_common.prepare(s)
  progress(f"Mult-VAE: best epoch {prep['trained'].best_epoch} ({prep['seconds']:.1f} s)")
  rows = []
  grid = [("lambda", float(v), s["alpha"]) for v in lambdas]
  grid += [("alpha", s["lam"], float(v)) for v in alphas]
  for param, lam, alpha in grid:
    point = dict(s, lam=lam, alpha=alpha)
    records, seconds, source = lcer_common.lcer_point(
        point, prep, k, root=cache_root or lcer_common.CACHE_ROOT, table2_dir=table2_dir,
        progress=progress)
    m = lcer_metrics(records, len(records))
    rows.append({"param": param, "lam": lam, "alpha": alpha, "source": source,
                 "seconds": round(seconds, 1), **{f: m[f] for f in FIELDS[3:10]}})
    progress(rows[-1])
  baselines = []
  if table2_dir is not None:
    found = lcer_common.reuse_table2(s, prep, k, ["fia", "kaffes", "accent"], table2_dir)
    for name, records in found.items():
      m = lcer_metrics(records, len(records), report_validity=name != "fia")
      baselines.append({"param": f"baseline:{name}", "lam": None, "alpha": None,
                        "source": "table2", "seconds": 0.0,
                        **{f: m[f] for f in FIELDS[3:10]}})
  return rows, baselines


def plot(rows: list[dict], path: pathlib.Path, baselines=()) -> bool:
  """sweep.png like Figures 8-9 (Val, PS, PN, F_NS lines; length bars; dashed: the best of the
  CE baselines KaffesCE/ACCENT per metric); False without matplotlib."""
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
    for n, metric in enumerate(("validity", "ps", "pn", "f_ns")):
      color = f"C{n}"
      ax.plot(range(len(xs)), [r[metric] or 0 for r in sub], marker="o", color=color,
              label=metric.upper())
      best = [b[metric] for b in baselines if b["param"] != "baseline:fia" and b[metric]]
      if best:
        ax.axhline(max(best), linestyle="--", color=color, linewidth=1)
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_xlabel(param)
    ax.legend()
  fig.tight_layout()
  fig.savefig(path)
  return True


def main(argv):
  del argv
  dataset = lcer_common.available_dataset(FLAGS.dataset)
  if dataset is None:
    return 1
  s = lcer_common.settings(dataset=dataset, preset=FLAGS.preset, seed=FLAGS.seed,
                           data_dir=FLAGS.data_dir, methods=["lcer"], chunk_size=FLAGS.chunk_size)
  out = pathlib.Path(FLAGS.output_dir or f"results/lcer_sweep/{dataset}-{FLAGS.preset}")
  out.mkdir(parents=True, exist_ok=True)
  t0 = time.perf_counter()
  rows, baselines = sweep(s, FLAGS.lcer_sweep_lambdas, FLAGS.lcer_sweep_alphas,
                          FLAGS.lcer_sweep_k,
                          table2_dir=f"results/lcer_table2/{dataset}-{FLAGS.preset}")
  with open(out / "sweep.csv", "w", newline="", encoding="utf-8") as f:
    writer = csv.DictWriter(f, FIELDS)
    writer.writeheader()
    writer.writerows(rows + baselines)
  (out / "config.json").write_text(json.dumps(
      {"runner": "lcer_sweep", "settings": s, "k": FLAGS.lcer_sweep_k,
       "lambdas": FLAGS.lcer_sweep_lambdas, "alphas": FLAGS.lcer_sweep_alphas,
       "seconds": time.perf_counter() - t0}, indent=2))
  made = plot(rows, out / "sweep.png", baselines)
  print("sweep.png:" if made else "matplotlib is not installed: wrote sweep.csv only",
        out / "sweep.png" if made else out / "sweep.csv")
  return 0


if __name__ == "__main__":
  app.run(main)
