"""Wen et al. (LCER), Figures 8-9 (`run_sweep`): LCER's Val, Len, PS, PN and F_NS as lambda or
alpha varies, on `lcer.preparation`'s preparation, with the figures (`plot_sweep`)."""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Sequence

import pandas as pd

from cfjax import util
from cfjax.evaluate.results import markdown_table
from cfjax.papers.lcer.preparation import (Prepared, Progress, begin, lcer_point, metric_cells,
                                           metrics_of, prepared_metrics, record_rows, table2_dir_of,
                                           table2_records)
from cfjax.pipeline import Run

SWEEP_FIELDS = ["param", "lam", "alpha", "validity", "length", "ps", "pn", "f_ns", "found",
                "pairs", "source", "seconds"]
METRIC_FIELDS = SWEEP_FIELDS[3:10]


def sweep_points(config) -> list[tuple[str, float, float]]:
  """(arm, lambda, alpha) of the sweep: lambda over `lambdas` at alpha = config.alpha
  (Figure 8), then alpha over `alphas` at lambda = config.lam (Figure 9)."""
  return ([("lambda", float(v), float(config.alpha)) for v in config.lambdas]
          + [("alpha", float(config.lam), float(v)) for v in config.alphas])


def _sweep_row(param: str, lam, alpha, metrics: dict, source: str, seconds: float) -> dict:
  return {"param": param, "lam": lam, "alpha": alpha, **{f: metrics[f] for f in METRIC_FIELDS},
          "source": source, "seconds": round(seconds, 1)}


# param -> (row key of the varied value, row key and label of the fixed one, file name)
FIGURES = {"lambda": ("lam", "alpha", "alpha", "sweep_lambda.png"),  # Figure 8
           "alpha": ("alpha", "lam", "lambda", "sweep_alpha.png")}  # Figure 9
LINES = (("validity", "Val"), ("ps", "PS"), ("pn", "PN"), ("f_ns", "F_NS"))
PLOT_HINT = "pip install -e '.[plot]'"


def best_baselines(baselines: Sequence[dict]) -> dict:
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


def _as_percent(value) -> float:
  """A metric fraction as a percentage; NaN (a gap in the line) when it is undefined."""
  return float("nan") if value is None else 100.0 * value


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
    ax.plot(xs, [_as_percent(r[metric]) for r in sub], marker="o", color=f"C{n}", label=label)
    if metric in baselines:
      ax.axhline(_as_percent(baselines[metric]), linestyle="--", linewidth=1, color=f"C{n}")
  ax.set_xticks(list(xs), [f"{r[key]:g}" for r in sub])
  ax.set_xlabel(param)
  ax.set_ylabel("%")
  fig.legend(loc="outside lower center", ncols=len(LINES), fontsize="small")
  note = ", dashed: best of KaffesCE/ACCENT" if baselines else ""
  ax.set_title(f"LCER vs {param} ({fixed_label} = {sub[0][fixed]:g}{note})", fontsize="medium")


def plot_sweep(rows: Sequence[dict], output_dir, baselines: Sequence[dict] = (), *,
               progress: Progress = print) -> list[pathlib.Path]:
  """Figures 8-9 as PNGs in `output_dir`: sweep_lambda.png (metrics vs lambda at fixed alpha)
  and sweep_alpha.png (metrics vs alpha at fixed lambda), from the sweep's rows.

  Val, PS, PN and F_NS are lines (%), Len bars on a second axis, the best CE baseline per
  metric dashed. An arm without rows gets no figure. matplotlib is optional (the `plot`
  extra): without it, says so in one line through `progress` and returns [].

  Returns:
    The paths written.
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    written.append(path)
  return written


def run_sweep(config, workdir, *, progress: Progress = print) -> dict:
  """Wen et al., Figures 8-9: LCER's Val, Len, PS, PN and F_NS as lambda or alpha varies.

  lambda over `config.lambdas` at the dataset's alpha, then alpha over `config.alphas` at the
  dataset's lambda, top-`config.k`, LCER only (grid points cached, shared with Table 3). The
  baselines of a finished Table 2 run with the same settings (`config.table2_dir`) become
  `baseline:<method>` rows, the dashed lines of the figures.

  Writes sweep.csv (one row per grid point, then the baselines), the figures sweep_lambda.png
  and sweep_alpha.png (when matplotlib is installed), then the results files (config.json,
  explanations.jsonl, rows.csv, table.md, table.json).

  Args:
    config: `cfjax/experiments/configs/lcer_sweep.py`'s fields.
    workdir: the results directory.
    progress: called with one line per grid point.

  Returns:
    table.json's dict: {"rows": the sweep rows, "baselines", "figures"}.
  """
  table2_dir = table2_dir_of(config)
  with Run.held(workdir) as run:
    config, prep, done = begin(config, run, "lcer_sweep", progress)
    if done is not None:
      return done
    k = int(config.k)
    rows, records = [], {}
    for param, lam, alpha in sweep_points(config):
      point = dict(config.to_dict(), lam=lam, alpha=alpha)
      found, seconds, source = lcer_point(prep, k, point, cache_dir=config.get("cache_dir"),
                                          table2_dir=table2_dir, progress=progress)
      rows.append(_sweep_row(param, lam, alpha, metrics_of("lcer", found), source, seconds))
      records[(lam, alpha)] = [dataclasses.replace(r, extra={**r.extra, "lambda": lam,
                                                             "alpha": alpha}) for r in found]
      progress(str(rows[-1]))
    found = table2_records(prep, k, ("fia", "kaffes", "accent"), config, table2_dir)
    baselines = [_sweep_row(f"baseline:{m}", None, None, metrics_of(m, found[m]), "table2", 0.0)
                 for m in ("fia", "kaffes", "accent") if m in found]
    util.atomic_write_text(run.path / "sweep.csv", pd.DataFrame(
        rows + baselines, columns=SWEEP_FIELDS).to_csv(index=False))
    figures = [path.name for path in plot_sweep(rows, run.path, baselines, progress=progress)]
    all_records = [r for point in records.values() for r in point]
    table = {"rows": rows, "baselines": baselines, "figures": figures}
    run.write(table=table, markdown=sweep_markdown(config, prep, rows + baselines, figures,
                                                   run.seconds),
              records=all_records, rows=record_rows(all_records),
              metrics=prepared_metrics(prep))
    return table


def sweep_markdown(config, prep: Prepared, rows: Sequence[dict], figures: list[str],
                   seconds: float) -> str:
  """The sweep as text: one line per grid point and baseline, the figures, the run time."""
  header = ["arm", "lambda", "alpha", "Val %", "Len", "PS %", "PN %", "F_NS %", "found",
            "source"]
  cells = lambda r: ([r["param"], r["lam"], r["alpha"]] + metric_cells(r)
                     + [f"{r['found']}/{r['pairs']}", r["source"]])
  return (f"LCER sweep (Wen et al., Figures 8-9) on {config.dataset}, top-{int(config.k)} "
          f"(preset {config.preset}; paper lambda={config.lam}, alpha={config.alpha}; "
          f"{config.steps} LCER steps, {config.num_users} test users; Mult-VAE best epoch "
          f"{prep.trained.best_epoch})\n\n"
          + markdown_table(header, [cells(r) for r in rows])
          + f"\nFigures: {', '.join(figures) or 'none (matplotlib is not installed)'}.\n"
          + f"Run time: {seconds:.0f} s.\n")
