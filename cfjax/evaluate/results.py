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
recomputing them; a different config, other data or other library code does not. A run holds
the directory's lock (`ResultsDir.locked`) while it works: a second run into the same
directory stops at once, naming the first one, instead of mixing its files with it.
config.json's metrics record the run's peak resident memory (`cfjax.util.peak_rss`).

With several processes (`cfjax.train.distributed`) every process runs the pipeline, and only
process 0 writes the shared files: `write` and `work_dir`'s cleaning happen on process 0,
followed by a barrier; `finished` is process 0's answer; each process holds its own lock file
(`.cfjax-lock`, `.cfjax-lock.process<p>`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import pathlib
import platform
import shutil
import socket
import sys
import time
from typing import Any, Iterator, Sequence

import jax
import numpy as np
import pandas as pd

from cfjax.evaluate import figures
from cfjax.evaluate.verify import noise_floor_warnings
from cfjax.records import VerifiedRecord, jsonl_text
from cfjax.train import distributed
from cfjax.util import (atomic_write_text, code_version, jsonable, peak_rss, to_json,
                        write_json)

# config.json keys that a rerun may change without changing the experiment.
VOLATILE_KEYS = ("timings", "metrics")
LOCK_FILE = ".cfjax-lock"


class DirectoryBusyError(ValueError):
  """Another run holds the results directory (the message names it)."""


def lock_name() -> str:
  """This process's lock file: `.cfjax-lock`, or `.cfjax-lock.process<p>` for process p > 0
  of a multi-process run (so the processes of one run do not lock each other out)."""
  index = distributed.process_index()
  return LOCK_FILE if index == 0 else f"{LOCK_FILE}.process{index}"


def memory_metrics() -> dict:
  """Peak resident memory (MiB) for config.json's metrics; with several processes, also
  every process's (one all-gather, so every process must call it)."""
  metrics = peak_rss()
  if distributed.process_count() > 1:
    metrics["processes"] = distributed.process_count()
    metrics["peak_rss_mib_per_process"] = distributed.gather_values(metrics["peak_rss_mib"])
  return metrics


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

  @contextlib.contextmanager
  def locked(self) -> Iterator["ResultsDir"]:
    """Holds this directory's lock for a run; a second holder fails at once.

    The lock is an exclusive `flock` on `<dir>/.cfjax-lock`, which names the holder (pid,
    host, start time, command); the operating system releases it when the process ends, so
    a killed run never leaves a stale lock behind. A directory this call created and the
    run left empty (e.g. it stopped on a bad setting) is removed again.

    Raises:
      DirectoryBusyError: if another run (or another `locked()` of this one) holds it.
      OSError: if the directory cannot be created (e.g. the path is a file).
    """
    created = not self.path.exists()
    self.path.mkdir(parents=True, exist_ok=True)
    name = lock_name()
    handle = open(self.path / name, "a+", encoding="utf-8")
    try:
      try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        raise DirectoryBusyError(f"{self.path} is in use by another run ({holder}); wait for "
                                 "it to finish or pass another --output_dir") from None
      handle.seek(0)
      handle.truncate()
      handle.write(f"pid {os.getpid()} on {socket.gethostname()}, started "
                   f"{time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(sys.argv)[:200]}")
      handle.flush()
      yield self
    finally:
      if created and [p.name for p in self.path.iterdir()] == [name]:
        (self.path / name).unlink()
        with contextlib.suppress(OSError):  # another process of the run may be using it
          self.path.rmdir()
      handle.close()  # releases the flock

  def finished(self, config: dict) -> dict | None:
    """table.json of a finished run in this directory made with the same config, else None
    (process 0's answer on every process)."""
    return distributed.on_primary(lambda: self._finished(config))

  def _finished(self, config: dict) -> dict | None:
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
    if distributed.is_primary():
      stamp = work / "config.json"
      try:
        same = comparable(json.loads(stamp.read_text())) == comparable(config)
      except (OSError, ValueError):
        same = False
      if not same:
        if work.exists():
          shutil.rmtree(work)
        write_json(stamp, config)
    distributed.barrier(f"work_dir {work}")
    return work

  def write(self, *, config: dict, records: Sequence, rows: Sequence[dict], table: dict,
            markdown: str) -> dict:
    """Writes config.json, explanations.jsonl, rows.csv, table.md, then table.json (last).

    With several processes, process 0 writes and the others wait for it (every process calls
    `write`, as every process runs the pipeline).

    Args:
      config: the run's config (JSON-able); provenance is expected inside it. Its metrics
        gain the peak resident memory (`memory_metrics`).
      records: `Explanation` or `VerifiedRecord`s (anything with `to_json`).
      rows: one flat dict per CSV row.
      table: the table's numbers.
      markdown: the table as text.

    Returns:
      The table as read back from table.json (JSON keys), what `finished` returns later.
    """
    config = {**config, "metrics": {**(config.get("metrics") or {}), **memory_metrics()}}
    if distributed.is_primary():
      self.path.mkdir(parents=True, exist_ok=True)
      (self.path / "table.json").unlink(missing_ok=True)
      write_json(self.path / "config.json", config)
      atomic_write_text(self.path / "explanations.jsonl", jsonl_text(records))
      atomic_write_text(self.path / "rows.csv",
                        pd.DataFrame([jsonable(row) for row in rows]).to_csv(index=False))
      atomic_write_text(self.path / "table.md", with_legend(markdown))
      verified = [r for r in records if isinstance(r, VerifiedRecord)]
      if verified:  # validity@K vs K with the placebo and noise floor bands
        figures.validity_figure(verified, self.path / "validity.png",
                                figure_title(config, verified))
      write_json(self.path / "table.json", table)
    distributed.barrier(f"results {self.path}")
    return json.loads(to_json(table))


def figure_title(config: dict, verified: Sequence[VerifiedRecord]) -> str:
  """"<dataset>, <model>, preset <p>: n = <users> users" from a run's config.json."""
  settings = config.get("config") if isinstance(config.get("config"), dict) else config
  parts = [str(settings[key]) for key in ("dataset", "model") if settings.get(key)]
  if settings.get("preset"):
    parts.append(f"preset {settings['preset']}")
  users = len({v.explanation.user for v in verified})
  return ", ".join(parts) + f": n = {users} users, {len(verified)} verified explanations"


def verified_rows(verified: Sequence[VerifiedRecord]) -> list[dict]:
  """One flat rows.csv row per verified record: deleted items space-separated, one column
  left_top_<K> per K, and the raw ids (user_id, item_id, deleted_item_ids, replacement_id,
  item_title) of records that carry them."""
  ks = sorted({k for v in verified for k in v.left_top_k})
  fields = ["method", "user", "item", "deleted_items", "replacement", "original_rank",
            "new_rank", "unretrained_rank", "item_score_original", "item_score_new",
            "replacement_score_new", "replacement_overtook"]
  rows = []
  for v in verified:
    payload = v.to_json()
    row = {name: payload.get(name) for name in fields}
    row["deleted_items"] = " ".join(str(i) for i in v.explanation.deleted_items)
    raw = v.explanation.raw
    if raw is not None:  # the data's own ids and titles (`cfjax.data.raw_ids`)
      row.update(user_id=raw["user"], item_id=raw["item"],
                 deleted_item_ids=" ".join(str(i) for i in raw["deleted_items"]),
                 replacement_id=raw["replacement"], item_title=raw.get("item_title"))
    row.update({f"left_top_{k}": v.left_top_k.get(k) for k in ks})
    rows.append(row)
  return rows


LEGEND = """
---
**Legend.** An explanation of a user's recommended item is a set of the user's training
interactions; it is checked by retraining the model without them.
- **valid@K** (Yao et al., eq. 2): share of explanations whose item left the user's top-K
  unseen items after retraining. **net valid@K**: the same, counting only targets whose
  noise-floor retrain (nothing deleted, same protocol and seeds) kept the item in the top-K,
  so deleting nothing can never count. **95% CI**: Wilson score interval of the share.
- **CF %** (ACCENT): share of explanations whose proposed replacement item overtook the
  recommended one after retraining (scores averaged over the verification seeds).
- **set size**: items deleted per explanation. **baseline rank**: the item's rank under the
  retrained model with nothing deleted (1 = recommended); **new rank**: after the deletion.
- **placebo** (random): a random set of the same size from the same user's history, verified
  the same way; a method is only meaningful above it.
- **noise floor** (none): nothing deleted, the same retraining: how often retraining alone
  moves the item.
- **paired**: the retrain reuses the original's seed (initialisation and batch order), so the
  deletion is the only difference; **warm**: training continues from the trained original;
  **scratch**: from initialisation. Protocol, steps and seeds are in config.json.
"""


def with_legend(markdown: str) -> str:
  """The table with `LEGEND` (the metrics defined where they are shown) at its end, once."""
  return markdown if "**Legend.**" in markdown else markdown.rstrip("\n") + "\n" + LEGEND


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
  """A GitHub markdown table; floats are printed with 3 decimals, None as a dash."""
  cell = lambda v: "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
  return "\n".join(lines) + "\n"


def validity_markdown(summaries: dict[str, dict], ks: Sequence[int],
                      labels: dict[str, str] | None = None) -> str:
  """Methods side by side: users, records, validity@K (Yao et al., eq. 2) with Wilson 95%
  intervals, and mean ranks; below the table, a warning line for every K where the noise
  floor ("none") lies within a method's interval (`noise_floor_warnings`).

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
  net = all("net_validity" in s for s in summaries.values())
  net_interval = lambda s, k: ("-" if s["net_validity_ci"][k][0] is None else
                               f"{s['net_validity_ci'][k][0]:.2f}-"
                               f"{s['net_validity_ci'][k][1]:.2f}")
  for k in ks:
    rows.append([f"valid@{k}"] + [s["validity"][k] for s in summaries.values()])
    rows.append(["  95% CI"] + [interval(s, k) for s in summaries.values()])
    if net:
      rows.append([f"net valid@{k}"] + [s["net_validity"][k] for s in summaries.values()])
      rows.append(["  95% CI"] + [net_interval(s, k) for s in summaries.values()])
  rows += [["mean baseline rank"] + column("mean_original_rank"),
           ["mean new rank"] + column("mean_new_rank")]
  if any(s["cf_percentage"] is not None for s in summaries.values()):
    rows.append(["CF percentage"] + column("cf_percentage"))
  warnings = noise_floor_warnings(summaries, ks)
  return markdown_table(header, rows) + "".join(f"\n{line}\n" for line in warnings)
