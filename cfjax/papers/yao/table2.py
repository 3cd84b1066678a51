"""Yao et al.'s Table 2 (`run_table2`): seconds per explanation, one target at a time (the
paper's setting) and batched, on `yao.preparation`'s prepared state; it reuses a finished Table 3's
simulation store when `config.table3_dir` names one.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any, Callable

import numpy as np

from cfjax.evaluate import markdown_table
from cfjax.explain import get_explainer
from cfjax.papers import published
from cfjax.papers.yao import preparation
from cfjax.papers.yao.preparation import (LABELS, Prepared, check_config, models_of, prepare,
                                          setup, surrogate_explainer)
from cfjax.pipeline import Run
from cfjax.records import Explanation
from cfjax.util import timed


def warm_timed(fn: Callable[[], Any]) -> tuple[Any, float]:
  """(fn(), seconds) of a second call, after one untimed call that compiles."""
  fn()
  with timed() as watch:
    result = fn()
  return result, watch.seconds


def explainer_makers(p: Prepared) -> dict[str, Callable[[bool], Any]]:
  """Table 2's methods: name -> (batched -> explainer); surrogates as fitted in `p`."""
  size = int(p.setup.config["deletion_size"])
  makers = {"knn": lambda batched: get_explainer("knn", e=size)}
  if p.setup.config["influence"]:
    makers["influence_function"] = lambda batched: get_explainer(
        "influence_function", e=size, on_fail="ignore")
  for name in p.setup.config["surrogates"]:
    makers[name] = lambda batched, name=name: surrogate_explainer(p.setup, name, p.fit,
                                                                  batched=batched)
  return makers


def time_explainers(p: Prepared) -> tuple[dict, list[Explanation]]:
  """Seconds per explanation of every method, one target per call and all targets at once.

  KNN's batched form is one [I, B] similarity matrix, the influence function's one batched
  inverse-HVP computation, a surrogate's every target's candidates scored in shared chunks.

  Returns:
    ({method: {"one_at_a_time_s", "batched_s", "same_choice", "pairs", "fit_s",
    "paper_s"}}, the one-at-a-time records of every method).
  """
  ctx, targets = p.ctx, p.targets
  singles = [targets.select(np.asarray([b])) for b in range(len(targets))]
  out, records = {}, []
  for method, make in explainer_makers(p).items():
    one, batched = make(False), make(True)
    one_records, one_seconds = warm_timed(
        lambda: [r for single in singles for r in one.explain(ctx, single)])
    batch_records, batch_seconds = warm_timed(lambda: batched.explain(ctx, targets))
    same = np.mean([sorted(a.deleted_items) == sorted(b.deleted_items)
                    for a, b in zip(one_records, batch_records)])
    out[method] = {"one_at_a_time_s": one_seconds / len(targets),
                   "batched_s": batch_seconds / len(targets), "same_choice": float(same),
                   "pairs": len(targets),
                   "fit_s": p.surrogate_info.get(method, {}).get("seconds"),
                   "paper_s": published.YAO_TABLE2_SECONDS.get(method)}
    records += one_records
  return out, records


def table2_markdown(table: dict) -> str:
  """Table 2's layout: ours one at a time and batched beside the paper's seconds."""
  number = lambda v: "-" if v is None else f"{v:.3g}"
  rows = [[LABELS.get(m, m), number(t["one_at_a_time_s"]), number(t["batched_s"]),
           number(t["paper_s"]), f"{100 * t['same_choice']:.0f}%", number(t["fit_s"])]
          for m, t in table["methods"].items()]
  scale = table["scale"]
  return (markdown_table(["method", "s / explanation, one at a time (ours)",
                          "s / explanation, batched (ours)", "paper (one at a time)",
                          "same choice", "surrogate fit s (one-off)"], rows) +
          f"\n{scale['pairs']} pairs ({scale['dataset']}, {scale['model']}); surrogate search "
          f"over <= {scale['candidates_max']} candidate {scale['e']}-subsets per pair (mean "
          f"{scale['mean_candidates']:.0f}); {scale['device']} ({scale['cores']} cores). The "
          "paper's machine and candidate counts differ.\n")


def table3_store(config, name: str) -> pathlib.Path | None:
  """The simulation store of the finished Table 3 run `config.table3_dir` names, or None."""
  if not config.table3_dir:
    return None
  folder = pathlib.Path(config.table3_dir) / name
  if not (folder / "table.json").is_file():
    raise ValueError(f"table3_dir={config.table3_dir}: {folder} holds no finished Table 3 run "
                     "(no table.json); run experiments.table3 with these settings first, or "
                     "leave table3_dir empty to simulate here")
  return folder / "simulation"


def run_table2(config, workdir: str | os.PathLike, *, progress: bool = True) -> dict:
  """Yao et al.'s Table 2 for one recommender: seconds per explanation, both ways.

  Args:
    config: `cfjax/experiments/configs/table2.py`'s fields (Table 3's, plus `table3_dir`).
    workdir: the results directory.
    progress: show the engine's progress bars.

  Returns:
    table.json's dict: {"methods": {method: timings}, "scale": {...}}.
  """
  check_config(config)
  names = models_of(config)
  if len(names) != 1:
    raise ValueError("Table 2 times one recommender; pass --model=mf or --model=ncf")
  reused = table3_store(config, names[0])
  with Run.held(workdir) as run:
    s = setup(config, names[0], preparation.load(config))
    done = run.finished(s.record)
    if done is not None:
      return done
    store = reused or run.path / "simulation"
    p = prepare(s, store_dir=store, cache_dir=config.cache_dir, own_store=reused is None,
                progress=progress)
    methods, records = time_explainers(p)
    candidates = [r.extra["candidates"] for r in records if "candidates" in r.extra]
    scale = {"pairs": len(p.targets), "candidates_max": int(config.candidates),
             "mean_candidates": float(np.mean(candidates)) if candidates else None,
             "e": int(config.deletion_size), "model": names[0], "dataset": s.dataset,
             "device": s.record["environment"]["device_kind"], "cores": os.cpu_count(),
             "simulation": str(store)}
    table = {"methods": methods, "scale": scale}
    run.write(table=table, markdown=table2_markdown(table), records=records,
              rows=[{"method": m, **t} for m, t in methods.items()], timings=p.timings,
              metrics={"surrogate_info": p.surrogate_info, "heldout": p.heldout})
    return table
