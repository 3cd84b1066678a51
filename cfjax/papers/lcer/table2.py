"""Wen et al. (LCER), Table 2 (`run_table2`): FIA, KaffesCE, ACCENT and LCER on Mult-VAE's
top-K lists, on `lcer.preparation`'s preparation."""

from __future__ import annotations

from cfjax.evaluate.results import markdown_table
from cfjax.papers.lcer.preparation import (LABELS, METHODS, Progress, begin, explain, metric_cells,
                                           metrics_of, prepared_metrics, record_rows)
from cfjax.papers.published import LCER_TABLE1, LCER_TABLE2
from cfjax.pipeline import Run

TABLE2_HEADER = ["method", "K", "Val %", "Len", "PS %", "PN %", "F_NS %", "paper Val %",
                 "paper Len", "paper PS %", "paper PN %", "paper F_NS %"]


def run_table2(config, workdir, *, progress: Progress = print) -> dict:
  """Wen et al., Table 2: FIA, KaffesCE, ACCENT and LCER on Mult-VAE's top-K lists.

  For each K in `config.ks` (5, 10) and method in `config.methods`, explains the U * K
  (test user, top-K item) pairs and reports Val, Len, PS, PN and F_NS (section 4.1) beside the
  paper's numbers (`LCER_TABLE2`). A finished run with the same config is returned as is.

  Args:
    config: `cfjax/experiments/configs/lcer_table2.py`'s fields.
    workdir: the results directory.
    progress: called with one line per finished step.

  Returns:
    table.json's dict: {"metrics": {"<method>@<K>": metrics}, "rows", "header", "counts",
    "best_epoch", "val_ndcg100"}.
  """
  with Run.held(workdir) as run:
    config, prep, done = begin(config, run, "lcer_table2", progress)
    if done is not None:
      return done
    metrics, records = {}, []
    for k in config.ks:
      for method in METHODS:
        if method not in config.methods:
          continue
        found, seconds = explain(prep, method, k, config)
        metrics[(method, k)] = metrics_of(method, found)
        run.timings[f"{method}@{k}"] = seconds
        records += found
        progress(f"K={k} {method}: {metrics[(method, k)]} ({seconds:.1f} s)")
    rows = [[LABELS[m], k] + metric_cells(metrics[(m, k)])
            + list(LCER_TABLE2.get((config.dataset, m, k), (None,) * 5))
            for k in config.ks for m in METHODS if (m, k) in metrics]
    counts = prep.split.counts
    markdown = (f"LCER Table 2 on {config.dataset} (preset {config.preset}; "
                f"lambda={config.lam}, alpha={config.alpha}, {config.steps} LCER steps, "
                f"{config.num_users} test users; Mult-VAE best epoch "
                f"{prep.trained.best_epoch}, val NDCG@100 {prep.trained.best_ndcg:.4f})\n\n"
                + markdown_table(TABLE2_HEADER, rows)
                + f"\nData: {counts}; paper Table 1: {LCER_TABLE1.get(config.dataset)}.\n"
                + f"Run time: {run.seconds:.0f} s.\n")
    table = {"metrics": {f"{m}@{k}": v for (m, k), v in metrics.items()}, "rows": rows,
             "header": TABLE2_HEADER, "counts": counts, "best_epoch": prep.trained.best_epoch,
             "val_ndcg100": prep.trained.best_ndcg}
    run.write(table=table, markdown=markdown, records=records, rows=record_rows(records),
              metrics=prepared_metrics(prep))
    return table
