r"""Wen et al. (LCER), Figures 8-9: LCER's Val, Len, PS, PN and F_NS as lambda or alpha varies.

  python -m experiments.lcer_sweep --dataset=ml-100k --preset=smoke

lambda in {0.01, ..., 0.05} at the paper's alpha, then alpha in {0.02, ..., 0.1} at the paper's
lambda (section 4.1 grid), top-5. Writes sweep.csv (one row per grid point, plus
`baseline:<method>` rows from a finished lcer_table2 run with the same settings, the dashed
lines of the figures), config.json, and the figures sweep_lambda.png (Figure 8) and
sweep_alpha.png (Figure 9) to --output_dir (default results/lcer_sweep/<dataset>-<preset>).
matplotlib is optional (`pip install -e '.[plot]'`); without it the figures are skipped.
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


# param -> (row key of the varied value, row key and label of the fixed one, file name)
FIGURES = {"lambda": ("lam", "alpha", "alpha", "sweep_lambda.png"),  # Figure 8
           "alpha": ("alpha", "lam", "lambda", "sweep_alpha.png")}  # Figure 9
LINES = (("validity", "Val"), ("ps", "PS"), ("pn", "PN"), ("f_ns", "F_NS"))
PLOT_HINT = "pip install -e '.[plot]'"


def _percent(value) -> float:
  """A metric fraction as a percentage; NaN (a gap in the line) when it is undefined."""
  return float("nan") if value is None else 100.0 * value


def best_baselines(baselines) -> dict:
  """Per metric, the best value of the CE baselines (KaffesCE, ACCENT; FIA has no validity and
  is not a CE method): the dashed lines of Figures 8-9. Metrics no baseline defines are left
  out."""
  values = {}
  for b in baselines:
    if b["param"] == "baseline:fia":
      continue
    for metric, _ in LINES:
      if b[metric] is not None:
        values[metric] = max(values.get(metric, b[metric]), b[metric])
  return values


def _draw(fig, sub: list[dict], param: str, baselines: dict) -> None:
  """One sweep arm on `fig`: metric lines (%) on the left axis, Len bars on the right axis,
  the baselines' best value per metric dashed."""
  key, fixed, fixed_label, _ = FIGURES[param]
  ax = fig.add_subplot()
  xs = range(len(sub))
  bars = ax.twinx()
  bars.bar(xs, [r["length"] if r["length"] is not None else 0.0 for r in sub], width=0.5,
           color="gray", alpha=0.3)
  bars.set_ylabel("Len (bars)")
  ax.set_zorder(bars.get_zorder() + 1)  # lines over the bars
  ax.patch.set_visible(False)
  for n, (metric, label) in enumerate(LINES):
    ax.plot(xs, [_percent(r[metric]) for r in sub], marker="o", color=f"C{n}", label=label)
    if metric in baselines:
      ax.axhline(_percent(baselines[metric]), linestyle="--", linewidth=1, color=f"C{n}")
  ax.set_xticks(list(xs), [f"{r[key]:g}" for r in sub])
  ax.set_xlabel(param)
  ax.set_ylabel("%")
  fig.legend(loc="outside lower center", ncols=len(LINES), fontsize="small")
  note = ", dashed: best of KaffesCE/ACCENT" if baselines else ""
  ax.set_title(f"LCER vs {param} ({fixed_label} = {sub[0][fixed]:g}{note})", fontsize="medium")


def plot_sweep(rows: list[dict], output_dir, baselines=(), *,
               progress=print) -> list[pathlib.Path]:
  """Figures 8-9 as PNGs in `output_dir`: sweep_lambda.png (metrics vs lambda at fixed alpha)
  and sweep_alpha.png (metrics vs alpha at fixed lambda), from `sweep`'s rows and baselines.

  Val, PS, PN and F_NS are lines (%), Len bars on a second axis, the best CE baseline per
  metric dashed. An arm without rows gets no figure. matplotlib is optional (the `plot`
  extra): without it, says so through `progress` and returns []. Returns the paths written.
  """
  try:
    from matplotlib.figure import Figure  # Agg canvas for PNGs; no pyplot, no global state
  except ImportError:
    progress(f"matplotlib is not installed: figures skipped (to get them: {PLOT_HINT})")
    return []
  best = best_baselines(baselines)
  written = []
  for param, (*_, name) in FIGURES.items():
    sub = [r for r in rows if r["param"] == param]
    if not sub:
      continue
    fig = Figure(figsize=(6, 4), layout="constrained")
    _draw(fig, sub, param, best)
    path = pathlib.Path(output_dir) / name
    fig.savefig(path, dpi=120)
    written.append(path)
  return written


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
  print("wrote", out / "sweep.csv")
  for path in plot_sweep(rows, out, baselines):
    print("wrote", path)
  return 0


if __name__ == "__main__":
  app.run(main)
