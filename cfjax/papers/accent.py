"""ACCENT's Table 1 (Tran et al., SIGIR 2021): its NCF half (pure FIA, FIA and ACCENT) and its RCF
half (pure attention, attention, pure FIA, FIA and ACCENT) at k = 5, 10, 20.

One `run` for both halves over a small frozen value, `Half` (`ncf_half`, `rcf_half`): the
model, its data, the methods and their options, and the verification protocol. NCF: ACCENT's
NeuMF on every row of accent-ml100k (no split, as ACCENT does), verified by warm retraining
without the CF set (several seeds, seed-averaged scores). RCF: ACCENT's RCF
(`cfjax.models.rcf`) on the accent-rcf triples, FIA over the user's 64-dim embedding row
(Hessian damping 0.01 as ACCENT's RCF code), verified by retraining FROM SCRATCH (init fixed,
one retrain per shuffling seed 2512, 3512, 4091, 4214, 9846, scores averaged; "warm" on the
CPU presets, since one RCF step costs about a second there). Success when the replacement's
new score exceeds the top-1's; the table reports CF percentage and CF set size beside the
paper's, with the noise floor and significance tests (`cfjax.evaluate.cf_table`): for each
(method, k), CF % = 100 * successes / users explained (a failed search counts as a failure)
and CF set size = the mean |CF set| over the successes (ACCENT sec. 4.1).

The methods run on ONE `ExplainContext`, so each k's FIA influences of every history row on
every top-k score are computed once and shared through `ctx.cache` (keyed by k). Each k's
explanations and verified records are saved in the results' work directory as they are made;
a rerun with the same settings resumes from them, and all unfinished k are verified in ONE
`verify` call (k = 10 and 20 mostly pick the same sets, and `verify` retrains each distinct
(user, deleted rows) once).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
from typing import Callable, Sequence

import jax
import numpy as np
from tqdm.auto import tqdm

from cfjax import data as cfdata
from cfjax.data.interactions import Interactions
from cfjax.evaluate import cf_table, verified_rows, verify
from cfjax.explain import ExplainContext, Targets, get_explainer, run_explainer, top1_targets
from cfjax.models import make_model
from cfjax.papers import published
from cfjax.pipeline import Run, engine_chunk_size, original_context, run_config
from cfjax.records import Explanation, VerifiedRecord, load_records, save_records
from cfjax.train import Convergence, RetrainProtocol, steps_per_epoch
from cfjax.util import atomic_write_text, timed, write_json

KS = (5, 10, 20)
PAPER_STEPS = published.ACCENT_STEPS  # ACCENT's training and retraining length
MODELS = ("ncf", "rcf", "all")  # --model: one half, or both into <workdir>/ncf and /rcf
RCF_DATASET = "accent-rcf"
RCF_METHODS = ("pure_attention", "attention", "pure_fia", "fia", "accent")
FIA_METHODS = ("pure_fia", "fia", "accent")
RCF_DAMPING = 0.01  # ACCENT's RCF FIA Hessian damping (RCF/src/rcf.py)

logger = logging.getLogger(__name__)

Explain = Callable[[int], Sequence[Explanation]]
Verify = Callable[[list[Explanation]], list[VerifiedRecord]]


def check_model(name: str) -> None:
  """A one-line error unless `name` is a half of Table 1 ("ncf", "rcf") or "all"."""
  if name not in MODELS:
    raise ValueError(f"--model={name} is not in ACCENT's Table 1; pass --model=ncf, "
                     "--model=rcf or --model=all")


def check_settings(config, model: str | None = None) -> None:
  """One-line errors for impossible settings of half `model` (default config.model; "all":
  both), before any data is loaded."""
  model = model or config.model
  check_model(model)
  if model in ("ncf", "all"):
    check_ncf_settings(config)
  if model in ("rcf", "all"):
    check_rcf_settings(config)
  table_ks(config)


def check_ncf_settings(config) -> None:
  """One-line errors for impossible NCF settings."""
  positive = {"train_steps": config.train_steps, "verify_steps": config.verify_steps,
              "verify_seeds": config.verify_seeds, "batch_size": config.batch_size}
  if config.users is not None:
    positive["users"] = config.users
  for name, value in positive.items():
    if int(value) < 1:
      raise ValueError(f"{name}={value} must be >= 1")
  if int(config.verify_batch_size) < 0:
    raise ValueError(f"verify_batch_size={config.verify_batch_size} must be >= 0 (0: full "
                     "batch)")


def check_rcf_settings(config) -> None:
  """One-line errors for impossible RCF settings (the rcf_* fields)."""
  for name in ("rcf_train_epochs", "rcf_verify_epochs", "rcf_batch_size"):
    if int(config[name]) < 1:
      raise ValueError(f"{name}={config[name]} must be >= 1")
  if config.rcf_verify_steps is not None and int(config.rcf_verify_steps) < 1:
    raise ValueError(f"rcf_verify_steps={config.rcf_verify_steps} must be >= 1 (None: "
                     "rcf_verify_epochs epochs)")
  if config.rcf_verify_protocol not in ("scratch", "warm"):
    raise ValueError(f"rcf_verify_protocol={config.rcf_verify_protocol!r}; pass 'scratch' "
                     "(ACCENT) or 'warm'")
  if not list(config.rcf_verify_seeds):
    raise ValueError("rcf_verify_seeds is empty; pass at least one shuffling seed")
  if config.rcf_users is not None and int(config.rcf_users) < 1:
    raise ValueError(f"rcf_users={config.rcf_users} must be >= 1")


def table_ks(config) -> tuple[int, ...]:
  """The candidate set sizes k of the table: config.replacement_ks (default ACCENT's 5, 10,
  20); each k >= 2, since the replacement is one of the top-2..top-k."""
  ks = tuple(int(k) for k in (config.get("replacement_ks") or KS))
  for k in ks:
    if k < 2:
      raise ValueError(f"replacement_ks entry {k} must be >= 2 (the replacement is one of "
                       "top-2..top-k); pass e.g. --config.replacement_ks=5,10,20")
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
              methods: Sequence[str] = cf_table.METHODS,
              fia_options: dict | None = None) -> list[Explanation]:
  """Every method's explanation of every target at candidate set size k.

  `k` keeps the paper's name here (Table 1's columns k = 5, 10, 20): it is ACCENT's I_rep, the
  top-k list the replacement comes from, passed to the explainers as `replacement_k` (their
  `k` would be the validity K).

  The methods share the FIA influences I(z, y_ut) (ACCENT eq. 5) of every history row z on
  every top-k item t through `ctx.cache`, computed once per k (the cache key holds k).

  Args:
    ctx: the trained original's context.
    targets: [B] users and their top-1 items (`top1_targets`).
    k: the top-k size: the candidate replacements are top-2..top-k.
    methods: registered explainer names run with `replacement_k=k`.
    fia_options: more options of the FIA methods (`FIA_METHODS`; RCF: damping, targets_per_batch).

  Returns:
    [len(methods) * B] records, method by method, each with extra["k"] = k.
  """
  records = []
  for method in tqdm(methods, desc=f"explaining (k={k})", unit="method", leave=False):
    options = {"replacement_k": k, **((fia_options or {}) if method in FIA_METHODS else {})}
    records += [cf_table.with_k(record, k)
                for record in run_explainer(get_explainer(method, **options), ctx, targets)]
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


@dataclasses.dataclass(frozen=True)
class Half:
  """One half of Table 1: what its model, data, methods and verification protocol are.

  Attributes:
    model: "ncf" or "rcf" (`make_model`).
    dataset: the canonical dataset name.
    methods: the explainers, in the table's order.
    fia_options: more options of the FIA methods (RCF: Hessian damping, one pair per chunk).
    published: (method, k) -> the paper's (CF %, CF set size).
    users: how many users to explain (None: all).
    spec: how the original is trained.
    verification: how each verification retrains, derived from `spec` ("warm" continues
      the original, "scratch" retrains it; its seeds are averaged; `until`: to convergence).
    facts: what config.json records beyond the common fields (protocol label, scale, ...).
  """

  model: str
  dataset: str
  methods: tuple[str, ...]
  fia_options: dict
  published: dict
  users: int | None
  spec: RetrainProtocol
  verification: RetrainProtocol
  facts: dict


def ncf_half(config, train: Interactions) -> Half:
  """ACCENT's NeuMF on accent-ml100k: warm retraining for verify_steps under verify_seeds
  (or to convergence with verify_tol), the config's users."""
  until = None
  if config.get("verify_tol") is not None:  # retrain to convergence (full batch, L-BFGS)
    until = Convergence(tol=float(config.verify_tol), max_steps=int(config.verify_steps))
  seeds = (0,) if until is not None else tuple(range(int(config.verify_seeds)))
  batch = (int(config.verify_batch_size) or None) if until is None else None
  spec = RetrainProtocol(steps=int(config.train_steps), batch_size=int(config.batch_size),
                         seeds=(int(config.seed),))
  verification = spec.continued(int(config.verify_steps), seeds=seeds, batch_size=batch)
  if until is not None:
    verification = verification.converging(until)
  return Half(
      model="ncf", dataset=cfdata.canonical_name(config.dataset), methods=cf_table.METHODS,
      fia_options={}, published=published.ACCENT_TABLE1_NCF, users=config.users, spec=spec,
      verification=verification.with_chunk_size(verify_chunk_size(config.chunk_size)),
      facts={"protocol": "warm" if until is None else "warm-converged",
             "verify_until": None if until is None else dataclasses.asdict(until),
             "scale": scale(len(train), config)})


def rcf_half(config, train: Interactions) -> Half:
  """ACCENT's RCF on accent-rcf: rcf_train_epochs of the original (seeded by the first
  shuffling seed), then per shuffling seed a retrain from scratch (init fixed) or warm."""
  batch = int(config.rcf_batch_size)
  per_epoch = steps_per_epoch(len(train), batch)
  seeds = tuple(int(s) for s in config.rcf_verify_seeds)
  protocol = str(config.rcf_verify_protocol)
  spec = RetrainProtocol(steps=int(config.rcf_train_epochs) * per_epoch, batch_size=batch,
                         seeds=(seeds[0],))
  verify_steps = (int(config.rcf_verify_epochs) * per_epoch if config.rcf_verify_steps is None
                  else int(config.rcf_verify_steps))
  verification = (spec.continued(verify_steps) if protocol == "warm" else
                  spec.with_steps(verify_steps)).with_seeds(seeds)
  return Half(
      model="rcf", dataset=RCF_DATASET, methods=RCF_METHODS,
      # One (user, item) pair per vmapped FIA batch: RCF's Hessian over a pair's related rows
      # holds every row's attention activations (16 pairs asked for 28 GB).
      fia_options={"damping": RCF_DAMPING, "targets_per_batch": 1},
      published=published.ACCENT_TABLE1_RCF, users=config.rcf_users,
      spec=spec, verification=verification.with_chunk_size(int(config.chunk_size or 1)),
      facts={"model": "rcf", "methods": list(RCF_METHODS), "fia_damping": RCF_DAMPING,
             "protocol": protocol + (" (init fixed, seeds shuffle)"
                                     if protocol == "scratch" else ""),
             "scale": {"train_epochs": int(config.rcf_train_epochs),
                       "verify_epochs": int(config.rcf_verify_epochs),
                       "paper_epochs": published.ACCENT_RCF_EPOCHS}})


HALVES = {"ncf": ncf_half, "rcf": rcf_half}


def load_data(config, model: str) -> Interactions:
  """The half's data: config.dataset for NCF (accent-ml100k), ACCENT's RCF triples and side
  data (`load("accent-rcf")`) for RCF."""
  name = RCF_DATASET if model == "rcf" else cfdata.canonical_name(config.dataset)
  return cfdata.load(name, data_dir=config.data_dir)


def half_record(config, train: Interactions, model, half: Half, ks: Sequence[int]) -> dict:
  """config.json of a half: the settings (dataset canonical), data, code, and the protocol."""
  spec = half.spec
  record = run_config(config, train, model_hparams=model.hparams, ks=list(ks),
                      original_spec={"steps": spec.steps, "batch_size": spec.batch_size,
                                     "seed": spec.seed},
                      verify_seeds=list(half.verification.seeds),
                      verify_steps=half.verification.steps,
                      verify_batch_size=half.verification.batch_size,
                      verify_chunk_size=half.verification.chunk_size,
                      **half.facts)
  record["config"]["dataset"] = half.dataset
  return record


def run(config, workdir: str | os.PathLike, *, progress: bool = True) -> dict:
  """ACCENT's Table 1 for config.model: one half ("ncf", "rcf": `run_half`) or both ("all":
  `run_all`); returns table.json."""
  check_settings(config)
  if config.model == "all":
    return run_all(config, workdir, progress=progress)
  return run_half(config, workdir, progress=progress)


def run_half(config, workdir: str | os.PathLike, *, progress: bool = True) -> dict:
  """Runs (or resumes, or finds finished) half config.model of Table 1 into `workdir`.

  Args:
    config: `cfjax/experiments/configs/accent_table1.py`'s fields: NCF reads dataset, data_dir,
      seed, users, train_steps, batch_size, verify_steps, verify_seeds, verify_batch_size,
      verify_tol, chunk_size, cache_dir; RCF reads seed, data_dir, cache_dir, chunk_size and
      the rcf_* fields (users, train/verify epochs or steps, batch size, protocol, seeds).
    workdir: the results directory.
    progress: show the verification engine's progress bar.

  Returns:
    table.json's dict (`cf_table.table`, as read back from JSON): one row per (method, k,
    metric) beside the paper's, and the tests per k.
  """
  check_settings(config)
  ks = table_ks(config)
  with Run.held(workdir) as run:
    train = load_data(config, config.model)
    model = make_model(config.model, train)
    half = HALVES[config.model](config, train)
    done = run.finished(half_record(config, train, model, half, ks))
    if done is not None:
      return done
    work = run.work_dir(work_settings(run.record))
    ctx, training = original_context(model, train, half.spec, cache_dir=config.cache_dir)
    users = explained_users(train, half.users, int(config.seed))
    targets = top1_targets(ctx, users)
    verify_records = lambda records: verify(
        records, model=model, train=train, original=ctx.original, protocol=half.verification,
        ks=(1,), progress=progress)
    verified_by_k, work_timings = run_ks(
        ks, explain=lambda k: explain_k(ctx, targets, k, half.methods, half.fia_options),
        verify_records=verify_records, train=train, work_dir=work, seed=int(config.seed))
    table = cf_table.table(verified_by_k, users, half.published, methods=half.methods)
    verified = [v for k in ks for v in verified_by_k[k]]
    metrics = {"users": len(users), "verified_records": len(verified),
               "verified_this_run": work_timings.pop("verified_records", 0),
               "original_model": training["cache"], "original_loaded": training["loaded"],
               "backend": jax.default_backend()}
    return run.write(table=table, markdown=cf_table.markdown(table), records=verified,
                     rows=verified_rows(verified), metrics=metrics,
                     timings={"train_original_s": training["seconds"], **work_timings})


def run_all(config, workdir: str | os.PathLike, *, progress: bool = True) -> dict:
  """Both halves of Table 1 into <workdir>/ncf and <workdir>/rcf, each resumable on its own,
  with both tables in <workdir>/table.md and table.json ({"ncf": ..., "rcf": ...})."""
  check_settings(config, model="all")
  tables, parts = {}, []
  with Run.held(workdir) as run:
    for name in ("ncf", "rcf"):
      half = config.copy_and_resolve_references()
      half.model = name
      tables[name] = run_half(half, run.path / name, progress=progress)
      text = (run.path / name / "table.md").read_text(encoding="utf-8")
      parts.append(f"## {name.upper()}\n\n{text}")
    write_json(run.path / "table.json", tables)
    atomic_write_text(run.path / "table.md", "\n".join(parts))
  return tables
