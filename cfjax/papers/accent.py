"""ACCENT's Table 1 for NCF (Tran et al., SIGIR 2021): pure FIA, FIA and ACCENT at k = 5, 10, 20.

Trains ACCENT's NeuMF on every row of accent-ml100k (no split, as ACCENT does), explains each
user's top-1 unseen item with pure FIA, FIA (sec. 3.3.2) and ACCENT (Algorithm 1) for every
candidate set size k, verifies every found explanation and a same-size placebo by warm
retraining without its CF set (several seeds, seed-averaged scores; success when the
replacement's new score exceeds the top-1's) and reports CF percentage and CF set size beside
the paper's, with the noise floor and significance tests (`cfjax.evaluate.cf_table`): for
each (method, k), CF % = 100 * successes / users explained (a failed search counts as a
failure) and CF set size = the mean |CF set| over the successes (ACCENT sec. 4.1).

The three methods run on ONE `ExplainContext`, so each k's FIA influences of every history row
on every top-k score are computed once and shared through `ctx.cache` (keyed by k). Each k's
explanations and verified records are saved in the results' work directory as they are made;
a rerun with the same settings resumes from them, and all unfinished k are verified in ONE
`verify` call (k = 10 and 20 mostly pick the same sets, and `verify` retrains each distinct
(user, deleted rows) once).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
from typing import Callable, Sequence

import jax
import numpy as np
from tqdm.auto import tqdm

from cfjax import data as cfdata
from cfjax.data.interactions import Interactions
from cfjax.evaluate import ResultsDir, cf_table, verified_rows, verify
from cfjax.explain import ExplainContext, Targets, get_explainer, run_explainer, top1_targets
from cfjax.models import make_model
from cfjax.papers import published
from cfjax.papers.common import engine_chunk_size, holds_workdir, run_config, trained_original
from cfjax.records import Explanation, VerifiedRecord, load_records, save_records
from cfjax.train import Convergence, RetrainProtocol, steps_per_epoch
from cfjax.util import atomic_write_text, timed, to_json, write_json

KS = (5, 10, 20)
PAPER_STEPS = published.ACCENT_STEPS  # ACCENT's training and retraining length
MODEL = "ncf"  # this module's half of Table 1; the RCF half is cfjax.papers.accent_rcf
MODELS = ("ncf", "rcf", "all")  # --model: one half, or both into <workdir>/ncf and /rcf

logger = logging.getLogger(__name__)

Explain = Callable[[int], Sequence[Explanation]]
Verify = Callable[[list[Explanation]], list[VerifiedRecord]]


def check_model(name: str) -> None:
  """A one-line error unless `name` is a half of Table 1 ("ncf", "rcf") or "all"."""
  if name not in MODELS:
    raise ValueError(f"--model={name} is not in ACCENT's Table 1; pass --model=ncf, "
                     "--model=rcf or --model=all")


def check_settings(config, model: str | None = None) -> None:
  """One-line errors for impossible settings, before any data is loaded."""
  check_model(model or config.model)
  positive = {"train_steps": config.train_steps, "verify_steps": config.verify_steps,
              "verify_seeds": config.verify_seeds, "batch_size": config.batch_size}
  if config.users is not None:
    positive["users"] = config.users
  for name, value in positive.items():
    if int(value) < 1:
      raise ValueError(f"{name}={value} must be >= 1")
  table_ks(config)
  if int(config.verify_batch_size) < 0:
    raise ValueError(f"verify_batch_size={config.verify_batch_size} must be >= 0 (0: full "
                     "batch)")


def table_ks(config) -> tuple[int, ...]:
  """The candidate set sizes k of the table: config.ks (default ACCENT's 5, 10, 20); each
  k >= 2, since the replacement is one of the top-2..top-k."""
  ks = tuple(int(k) for k in (config.get("ks") or KS))
  for k in ks:
    if k < 2:
      raise ValueError(f"ks entry {k} must be >= 2 (the replacement is one of top-2..top-k); "
                       "pass e.g. --config.ks=5,10,20")
  return ks


def verify_chunk_size(chunk_size: int | None) -> int:
  """Models per verify engine call: the given value, else 8 on CPU (minibatch retrains vmap
  well there: 8 is ~2x faster than 1) and 64 on an accelerator."""
  if chunk_size is not None:
    return engine_chunk_size(chunk_size, None)
  return 8 if jax.default_backend() == "cpu" else 64


def scale(num_rows: int, config) -> dict:
  """How long the original trains and each verification retrains, in epochs and as fractions
  of the paper's 120,000 steps."""
  verify_batch = int(config.verify_batch_size) or None
  return {"train_epochs": config.train_steps / steps_per_epoch(num_rows, config.batch_size),
          "verify_epochs": config.verify_steps / steps_per_epoch(num_rows, verify_batch),
          "train_fraction_of_paper": config.train_steps / PAPER_STEPS,
          "verify_fraction_of_paper": config.verify_steps / PAPER_STEPS,
          "paper_steps": PAPER_STEPS}


def explained_users(train: Interactions, num_users: int | None, seed: int) -> np.ndarray:
  """Every user (`num_users` None or >= all of them, as ACCENT's 452), else a seeded sample
  of users with at least one training row."""
  if num_users is None or num_users >= train.num_users:
    return np.arange(train.num_users)
  return cfdata.sample_users(train, int(num_users), min_history=1, seed=seed)


def explain_k(ctx: ExplainContext, targets: Targets, k: int,
              methods: Sequence[str] = cf_table.METHODS) -> list[Explanation]:
  """Every method's explanation of every target at candidate set size k.

  The methods share the FIA influences I(z, y_ut) (ACCENT eq. 5) of every history row z on
  every top-k item t through `ctx.cache`, computed once per k (the cache key holds k).

  Args:
    ctx: the trained original's context.
    targets: [B] users and their top-1 items (`top1_targets`).
    k: the top-k size: the candidate replacements are top-2..top-k.
    methods: registered explainer names run with `k=k`.

  Returns:
    [len(methods) * B] records, method by method, each with extra["k"] = k.
  """
  records = []
  for method in tqdm(methods, desc=f"explaining (k={k})", unit="method", leave=False):
    records += [cf_table.with_k(record, k)
                for record in run_explainer(get_explainer(method, k=k), ctx, targets)]
  return records


def run_ks(ks: Sequence[int], *, explain: Explain, verify_records: Verify, train: Interactions,
           work_dir: str | os.PathLike, seed: int,
           log: Callable[[str], None] = logger.info) -> tuple[dict, dict]:
  """Explains every unfinished k, adds placebos, and verifies them ALL in ONE call.

  In `work_dir` (which the caller keeps only for the same settings, `ResultsDir.work_dir`),
  each k's explanations are saved as they are made (explanations_k{k}.jsonl) and its verified
  records after the call (verified_k{k}.jsonl), atomically and with their SHA-256 beside them;
  a rerun loads them instead of recomputing, and recomputes a file that was damaged.

  Args:
    ks: the candidate set sizes k.
    explain: k -> explanation records of every method; called only for k without saved ones.
    verify_records: records -> verified records, one per record, in order.
    train: the training interactions (for the placebos).
    work_dir: the directory of the per-k files.
    seed: the placebos' seed (`cf_table.placebo_record`).
    log: progress messages.

  Returns:
    ({k: verified records}, {"explain_s": {k: seconds}, "verify_s", "verified_records"} of
    the work done in this call).
  """
  work = pathlib.Path(work_dir)
  verified_by_k, timings, pending = {}, {"explain_s": {}}, {}
  for k in ks:
    done = work / f"verified_k{k}.jsonl"
    loaded = load_records(done, VerifiedRecord)
    if loaded is not None:
      verified_by_k[k] = loaded
      log(f"k={k}: loaded {len(loaded)} verified records from {done}")
      continue
    explained = work / f"explanations_k{k}.jsonl"
    with timed() as watch:
      records = load_records(explained)
      if records is None:
        records = [cf_table.with_k(r, k) for r in explain(k)]
        save_records(explained, records)
      by_method: dict[str, list[Explanation]] = {}
      for r in records:
        by_method.setdefault(r.method, []).append(r)
      pending[k] = cf_table.records_to_verify(by_method, train, seed)
    timings["explain_s"][k] = watch.seconds
    log(f"k={k}: {len(pending[k])} records to verify (explained in {watch.seconds:.1f}s)")
  if pending:
    union = [r for k in pending for r in pending[k]]
    with timed() as watch:
      verified = verify_records(union)
    offset = 0
    for k, records in pending.items():
      verified_by_k[k] = verified[offset:offset + len(records)]
      offset += len(records)
      save_records(work / f"verified_k{k}.jsonl", verified_by_k[k])
    timings.update(verify_s=watch.seconds, verified_records=len(union))
    log(f"verified {len(union)} records of k={list(pending)} in one call in "
        f"{watch.seconds:.1f}s")
  return {k: verified_by_k[k] for k in ks}, timings


def work_settings(record: dict) -> dict:
  """The part of config.json the per-k work files depend on: without the environment and
  the engine's chunk size, which do not change results."""
  work = {k: v for k, v in record.items() if k not in ("environment", "verify_chunk_size")}
  work["config"] = {k: v for k, v in record["config"].items() if k != "chunk_size"}
  return work


def run(config, workdir: str | os.PathLike, *, progress: bool = True) -> dict:
  """ACCENT's Table 1 for config.model: "ncf" (`run_ncf`), "rcf" (`cfjax.papers.accent_rcf`)
  or "all" (`run_all`); returns table.json."""
  check_model(config.model)
  if config.model == "ncf":
    return run_ncf(config, workdir, progress=progress)
  from cfjax.papers import accent_rcf  # it builds on this module
  if config.model == "rcf":
    return accent_rcf.run(config, workdir, progress=progress)
  return run_all(config, workdir, progress=progress)


@holds_workdir
def run_ncf(config, workdir: str | os.PathLike, *, progress: bool = True) -> dict:
  """Runs (or resumes, or finds finished) ACCENT's Table 1 into `workdir`; returns table.json.

  Args:
    config: `experiments/configs/accent_table1.py`'s fields (dataset, data_dir, model, seed,
      users, train_steps, batch_size, verify_steps, verify_seeds, verify_batch_size,
      chunk_size, cache_dir).
    workdir: the results directory.
    progress: show the verification engine's progress bar.

  Returns:
    table.json's dict (`cf_table.table`, as read back from JSON): one row per (method, k,
    metric) beside the paper's, and the tests per k.
  """
  check_settings(config)
  ks = table_ks(config)
  results = ResultsDir(workdir)
  with timed() as total:
    dataset = cfdata.canonical_name(config.dataset)
    train = cfdata.load(dataset, data_dir=config.data_dir)
    model = make_model(MODEL, train)
    until = None
    if config.get("verify_tol") is not None:  # retrain to convergence (full batch, L-BFGS)
      until = Convergence(tol=float(config.verify_tol), max_steps=int(config.verify_steps))
    seeds = (0,) if until is not None else tuple(range(int(config.verify_seeds)))
    verify_batch = (int(config.verify_batch_size) or None) if until is None else None
    chunk_size = verify_chunk_size(config.chunk_size)
    spec = RetrainProtocol(steps=int(config.train_steps), batch_size=int(config.batch_size),
                           seeds=(int(config.seed),))
    record = run_config(config, train, model_hparams=model.hparams, ks=list(ks),
                        original_spec={"steps": spec.steps, "batch_size": spec.batch_size,
                                       "seed": spec.seed},
                        protocol="warm" if until is None else "warm-converged",
                        verify_until=None if until is None else dataclasses.asdict(until),
                        verify_seeds=list(seeds),
                        verify_steps=int(config.verify_steps), verify_batch_size=verify_batch,
                        scale=scale(len(train), config), verify_chunk_size=chunk_size)
    record["config"]["dataset"] = dataset
    done = results.finished(record)
    if done is not None:
      return done
    work = results.work_dir(work_settings(record))
    original, training = trained_original(model, train, spec, cache_dir=config.cache_dir)
    ctx = ExplainContext.from_original(model, train, original, spec)
    users = explained_users(train, config.users, int(config.seed))
    targets = top1_targets(ctx, users)
    verifying = spec.continued(int(config.verify_steps), seeds=seeds, batch_size=verify_batch)
    verifying = (verifying if until is None else verifying.converging(until)).with_chunk_size(
        chunk_size)
    verify_records = lambda records: verify(records, model=model, train=train, original=original,
                                            protocol=verifying, ks=(1,), progress=progress)
    verified_by_k, work_timings = run_ks(
        ks, explain=lambda k: explain_k(ctx, targets, k), verify_records=verify_records,
        train=train, work_dir=work, seed=int(config.seed))
    table = cf_table.table(verified_by_k, users, published.ACCENT_TABLE1_NCF)
    markdown = cf_table.markdown(table)
  verified = [v for k in ks for v in verified_by_k[k]]
  record["metrics"] = {"users": len(users), "verified_records": len(verified),
                       "verified_this_run": work_timings.pop("verified_records", 0),
                       "original_model": training["cache"],
                       "original_loaded": training["loaded"]}
  record["timings"] = {"train_original_s": training["seconds"], **work_timings,
                       "total_s": total.seconds}
  results.write(config=record, records=verified, rows=verified_rows(verified), table=table,
                markdown=markdown)
  return json.loads(to_json(table))  # as table.json holds it (k keys are strings there)


@holds_workdir
def run_all(config, workdir: str | os.PathLike, *, progress: bool = True) -> dict:
  """Both halves of Table 1 into <workdir>/ncf and <workdir>/rcf, each resumable on its own,
  with both tables in <workdir>/table.md and table.json ({"ncf": ..., "rcf": ...})."""
  from cfjax.papers import accent_rcf
  check_settings(config, model=MODEL)
  accent_rcf.check_settings(config)
  tables, parts = {}, []
  for name, pipeline in (("ncf", run_ncf), ("rcf", accent_rcf.run)):
    half = config.copy_and_resolve_references()
    half.model = name
    tables[name] = pipeline(half, pathlib.Path(workdir) / name, progress=progress)
    text = (pathlib.Path(workdir) / name / "table.md").read_text(encoding="utf-8")
    parts.append(f"## {name.upper()}\n\n{text}")
  write_json(pathlib.Path(workdir) / "table.json", tables)
  atomic_write_text(pathlib.Path(workdir) / "table.md", "\n".join(parts))
  return tables
