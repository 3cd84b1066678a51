"""The one results writer every pipeline uses, and the markdown of its tables.

A finished results directory holds:

  config.json          everything the results depend on: the config, the data checksum, the
                       code version (cfjax version, git commit, a hash of the package source)
                       and the environment (jax, device), plus timings and metrics
  explanations.jsonl   one record per explained (and, where verified, retrained) target
  rows.csv             one row per record, flat (pandas)
  table.md             the table beside the paper's numbers
  table.json           the same numbers as JSON; written LAST, so it marks a finished run

A rerun with the same config finds the finished results (`ResultsDir.finished`) instead of
recomputing them; a different config, other data or other library code does not.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import platform
import shutil
from typing import Any, Sequence

import jax
import numpy as np
import pandas as pd

from cfjax.records import VerifiedRecord, jsonl_text
from cfjax.util import atomic_write_text, code_version, jsonable, to_json, write_json

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


def provenance() -> dict:
  """{"code": code_version(), "environment": environment_info()} for a config.json."""
  return {"code": code_version(), "environment": environment_info()}


def comparable(config: dict) -> dict:
  """The part of a config.json that decides whether results can be reused: everything but
  timings, metrics and the git commit (the source hash stands for the code)."""
  config = json.loads(to_json(config))
  config = {k: v for k, v in config.items() if k not in VOLATILE_KEYS}
  if isinstance(config.get("code"), dict):
    config["code"] = {k: v for k, v in config["code"].items() if k != "git_commit"}
  return config


@dataclasses.dataclass(frozen=True)
class ResultsDir:
  """A pipeline's results directory (see the module docstring for its files)."""

  path: pathlib.Path

  def __init__(self, path: str | os.PathLike):
    object.__setattr__(self, "path", pathlib.Path(path))

  def finished(self, config: dict) -> dict | None:
    """table.json of a finished run in this directory made with the same config, else None."""
    try:
      old = json.loads((self.path / "config.json").read_text())
      table = json.loads((self.path / "table.json").read_text())
    except (OSError, ValueError):
      return None
    same = comparable(old) == comparable(config)
    return table if same and (self.path / "table.md").is_file() else None

  def work_dir(self, config: dict, name: str = "work") -> pathlib.Path:
    """A sub-directory for resumable intermediate files, kept only while they were made with
    the same config (its config.json); otherwise emptied first."""
    work = self.path / name
    stamp = work / "config.json"
    try:
      same = comparable(json.loads(stamp.read_text())) == comparable(config)
    except (OSError, ValueError):
      same = False
    if not same:
      if work.exists():
        shutil.rmtree(work)
      write_json(stamp, config)
    return work

  def write(self, *, config: dict, records: Sequence, rows: Sequence[dict], table: dict,
            markdown: str) -> dict:
    """Writes config.json, explanations.jsonl, rows.csv, table.md, then table.json (last).

    Args:
      config: the run's config (JSON-able); provenance is expected inside it.
      records: `Explanation` or `VerifiedRecord`s (anything with `to_json`).
      rows: one flat dict per CSV row.
      table: the table's numbers.
      markdown: the table as text.

    Returns:
      The table as read back from table.json (JSON keys), what `finished` returns later.
    """
    self.path.mkdir(parents=True, exist_ok=True)
    (self.path / "table.json").unlink(missing_ok=True)
    write_json(self.path / "config.json", config)
    atomic_write_text(self.path / "explanations.jsonl", jsonl_text(records))
    atomic_write_text(self.path / "rows.csv",
                      pd.DataFrame([jsonable(row) for row in rows]).to_csv(index=False))
    atomic_write_text(self.path / "table.md", markdown)
    write_json(self.path / "table.json", table)
    return json.loads(to_json(table))


def verified_rows(verified: Sequence[VerifiedRecord]) -> list[dict]:
  """One flat rows.csv row per verified record: deleted items space-separated, one column
  left_top_<K> per K."""
  ks = sorted({k for v in verified for k in v.left_top_k})
  fields = ["method", "user", "item", "deleted_items", "replacement", "original_rank",
            "new_rank", "unretrained_rank", "item_score_original", "item_score_new",
            "replacement_score_new", "replacement_overtook"]
  rows = []
  for v in verified:
    payload = v.to_json()
    row = {name: payload.get(name) for name in fields}
    row["deleted_items"] = " ".join(str(i) for i in v.explanation.deleted_items)
    row.update({f"left_top_{k}": v.left_top_k.get(k) for k in ks})
    rows.append(row)
  return rows


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
  """A GitHub markdown table; floats are printed with 3 decimals, None as a dash."""
  cell = lambda v: "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
  return "\n".join(lines) + "\n"


def validity_markdown(summaries: dict[str, dict], ks: Sequence[int],
                      labels: dict[str, str] | None = None) -> str:
  """Methods side by side: users, records, validity@K (Yao et al., eq. 2) with Wilson 95%
  intervals, and mean ranks.

  Args:
    summaries: method -> `cfjax.evaluate.summarize` output.
    ks: the K rows to show.
    labels: optional method -> column title, e.g. {"random": "random (placebo)"}.
  """
  labels = labels or {}
  header = ["metric"] + [labels.get(m, m) for m in summaries]
  column = lambda key: [s[key] for s in summaries.values()]
  interval = lambda s, k: ("-" if s["validity_ci"][k][0] is None else
                           f"{s['validity_ci'][k][0]:.2f}-{s['validity_ci'][k][1]:.2f}")
  rows = [["users"] + column("users"), ["records"] + column("count")]
  for k in ks:
    rows.append([f"valid@{k}"] + [s["validity"][k] for s in summaries.values()])
    rows.append(["  95% CI"] + [interval(s, k) for s in summaries.values()])
  rows += [["mean baseline rank"] + column("mean_original_rank"),
           ["mean new rank"] + column("mean_new_rank")]
  if any(s["cf_percentage"] is not None for s in summaries.values()):
    rows.append(["CF percentage"] + column("cf_percentage"))
  return markdown_table(header, rows)
