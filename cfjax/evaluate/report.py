"""Result directories shared by the experiment runners: config, records, CSV and tables.

A finished directory holds config.json, explanations.jsonl, rows.csv, table.md and table.json;
table.json is written last, so its presence marks a finished run. A runner may skip its work
when `finished_results` finds a finished run with the same config (timings and metrics aside).
"""

from __future__ import annotations

import csv
import json
import os
import pathlib
import platform
from typing import Sequence

import jax
import numpy as np

from cfjax.evaluate.records import VerifiedRecord, write_jsonl

# config.json keys that a rerun may change without changing the experiment.
VOLATILE_KEYS = ("timings", "metrics")


def environment_info() -> dict:
  """Versions and device of this process, for config.json."""
  import flax
  import optax
  devices = jax.devices()
  return {"python": platform.python_version(), "jax": jax.__version__, "numpy": np.__version__,
          "flax": flax.__version__, "optax": optax.__version__, "platform": devices[0].platform,
          "device_kind": devices[0].device_kind, "device_count": len(devices)}


def _comparable(config: dict) -> dict:
  return {k: v for k, v in config.items() if k not in VOLATILE_KEYS}


def finished_results(output_dir: str | os.PathLike, config: dict) -> dict | None:
  """table.json of a finished run in `output_dir` with the same config, else None.

  Args:
    output_dir: the results directory.
    config: this run's config (its volatile keys, timings and metrics, are ignored).
  """
  path = pathlib.Path(output_dir)
  try:
    old = json.loads((path / "config.json").read_text())
    table = json.loads((path / "table.json").read_text())
  except (OSError, ValueError):
    return None
  same = _comparable(old) == _comparable(json.loads(json.dumps(config)))
  return table if same and (path / "table.md").is_file() else None


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
  """A GitHub markdown table; floats are printed with 3 decimals, None as a dash."""
  cell = lambda v: "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
  return "\n".join(lines) + "\n"


def validity_markdown(summaries: dict[str, dict], ks: Sequence[int],
                      labels: dict[str, str] | None = None) -> str:
  """Methods side by side: users, records, validity@K (Yao et al., eq. 2) and mean ranks.

  Args:
    summaries: method -> `summarize` output.
    ks: the K rows to show.
    labels: optional method -> column title, e.g. {"random": "random (placebo)"}.
  """
  labels = labels or {}
  header = ["metric"] + [labels.get(m, m) for m in summaries]
  column = lambda key: [s[key] for s in summaries.values()]
  rows = [["users"] + column("users"), ["records"] + column("count")]
  rows += [[f"valid@{k}"] + [s["validity"][k] for s in summaries.values()] for k in ks]
  rows += [["mean baseline rank"] + column("mean_original_rank"),
           ["mean new rank"] + column("mean_new_rank")]
  if any(s["cf_percentage"] is not None for s in summaries.values()):
    rows.append(["CF percentage"] + column("cf_percentage"))
  return markdown_table(header, rows)


def write_rows_csv(path: str | os.PathLike, verified: Sequence[VerifiedRecord]) -> None:
  """One CSV row per verified record; deleted items space-separated, one column per K."""
  ks = sorted({k for v in verified for k in v.left_top_k})
  fields = ["method", "user", "item", "deleted_items", "replacement", "original_rank",
            "new_rank", "unretrained_rank", "item_score_original", "item_score_new",
            "replacement_score_new", "replacement_overtook"] + [f"left_top_{k}" for k in ks]
  with open(path, "w", newline="", encoding="utf-8") as f:
    writer = csv.DictWriter(f, fields)
    writer.writeheader()
    for v in verified:
      row = {name: v.to_json().get(name) for name in fields}
      row["deleted_items"] = " ".join(str(i) for i in v.explanation.deleted_items)
      row.update({f"left_top_{k}": v.left_top_k.get(k) for k in ks})
      writer.writerow(row)


def write_results_dir(output_dir: str | os.PathLike, *, config: dict,
                      verified: Sequence[VerifiedRecord], table: dict, markdown: str) -> None:
  """Writes config.json, explanations.jsonl, rows.csv, table.md, then table.json (last)."""
  path = pathlib.Path(output_dir)
  path.mkdir(parents=True, exist_ok=True)
  (path / "table.json").unlink(missing_ok=True)
  (path / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
  write_jsonl(path / "explanations.jsonl", verified)
  write_rows_csv(path / "rows.csv", verified)
  (path / "table.md").write_text(markdown)
  (path / "table.json").write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
