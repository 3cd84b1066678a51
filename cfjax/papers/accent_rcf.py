"""ACCENT's Table 1 for RCF (Tran et al., SIGIR 2021): pure attention, attention, pure FIA, FIA and
ACCENT at k = 5, 10, 20, verified as ACCENT verified RCF.

Trains ACCENT's RCF (`cfjax.models.rcf`) on the accent-rcf triples, explains each explained
user's top-1 unseen item with the five methods (FIA's influence over the user's 64-dim
embedding row, the model's `related_rows`; Hessian damping 0.01 as ACCENT's RCF code), and
verifies every found explanation and a same-size placebo by retraining FROM SCRATCH without
the CF set's rows (and without those items in the user's history): init fixed (the model's
`init_seed`), one retrain per shuffling seed (ACCENT's 2512, 3512, 4091, 4214, 9846), scores
averaged; success when the replacement's score exceeds the top-1's. (`rcf_verify_protocol=
"warm"` continues from the original instead, for a few steps: the CPU presets' stand-in,
since one RCF step costs about a second there.) The table, placebo and
noise-floor rows, McNemar and the paired t-test come from `cfjax.evaluate.cf_table`, as in
the NCF half (`cfjax.papers.accent`), whose resumable per-k work files it shares.
"""

from __future__ import annotations

import json
import os

import jax

from cfjax import data as cfdata
from cfjax.evaluate import ResultsDir, cf_table, verified_rows, verify
from cfjax.explain import ExplainContext, get_explainer, run_explainer, top1_targets
from cfjax.models import make_model
from cfjax.papers import published
from cfjax.papers.accent import explained_users, run_ks, table_ks, work_settings
from cfjax.papers.common import holds_workdir, run_config, trained_original
from cfjax.train import RetrainProtocol, steps_per_epoch
from cfjax.util import timed, to_json

DATASET = "accent-rcf"
METHODS = ("pure_attention", "attention", "pure_fia", "fia", "accent")
FIA_METHODS = ("pure_fia", "fia", "accent")
DAMPING = 0.01  # ACCENT's RCF FIA Hessian damping (RCF/src/rcf.py)


def check_settings(config) -> None:
  """One-line errors for impossible RCF settings, before any data is loaded."""
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


def load_data(config):
  """ACCENT's RCF triples and side data (`load("accent-rcf")`)."""
  return cfdata.load(DATASET, data_dir=config.data_dir)


def explain_k(ctx, targets, k: int):
  """Every method's records at candidate set size k (FIA methods with damping 0.01)."""
  records = []
  for method in METHODS:
    # One (user, item) pair per vmapped FIA chunk: RCF's Hessian over a pair's related rows
    # holds every row's attention activations (16 pairs asked for 28 GB).
    options = {"k": k, **({"damping": DAMPING, "chunk_size": 1} if method in FIA_METHODS
                          else {})}
    records += [cf_table.with_k(r, k)
                for r in run_explainer(get_explainer(method, **options), ctx, targets)]
  return records


@holds_workdir
def run(config, workdir: str | os.PathLike, *, progress: bool = True) -> dict:
  """Runs (or resumes, or finds finished) Table 1's RCF half into `workdir`; returns table.json.

  Args:
    config: `experiments/configs/accent_table1.py`'s fields; RCF reads seed, data_dir,
      cache_dir, chunk_size and the rcf_* fields (users, train/verify epochs or steps, batch
      size, protocol, seeds).
    workdir: the results directory.
    progress: show the verification engine's progress bar.
  """
  check_settings(config)
  ks = table_ks(config)
  results = ResultsDir(workdir)
  with timed() as total:
    train = load_data(config)
    model = make_model("rcf", train)
    batch = int(config.rcf_batch_size)
    per_epoch = steps_per_epoch(len(train), batch)
    train_steps = int(config.rcf_train_epochs) * per_epoch
    verify_steps = (int(config.rcf_verify_epochs) * per_epoch
                    if config.rcf_verify_steps is None else int(config.rcf_verify_steps))
    protocol = str(config.rcf_verify_protocol)
    seeds = tuple(int(s) for s in config.rcf_verify_seeds)
    chunk_size = int(config.chunk_size or 1)
    spec = RetrainProtocol(steps=train_steps, batch_size=batch, seeds=(seeds[0],))
    record = run_config(config, train, model_hparams=model.hparams, ks=list(ks),
                        model="rcf", methods=list(METHODS),
                        original_spec={"steps": spec.steps, "batch_size": batch,
                                       "seed": spec.seed},
                        protocol=protocol + (" (init fixed, seeds shuffle)"
                                             if protocol == "scratch" else ""),
                        verify_seeds=list(seeds),
                        verify_steps=verify_steps, verify_batch_size=batch,
                        scale={"train_epochs": int(config.rcf_train_epochs),
                               "verify_epochs": int(config.rcf_verify_epochs),
                               "paper_epochs": published.ACCENT_RCF_EPOCHS},
                        verify_chunk_size=chunk_size, fia_damping=DAMPING)
    record["config"]["dataset"] = DATASET
    done = results.finished(record)
    if done is not None:
      return done
    work = results.work_dir(work_settings(record))
    original, training = trained_original(model, train, spec, cache_dir=config.cache_dir)
    ctx = ExplainContext.from_original(model, train, original, spec)
    users = explained_users(train, config.rcf_users, int(config.seed))
    targets = top1_targets(ctx, users)
    verifying = (spec.continued(verify_steps) if protocol == "warm" else
                 spec.with_steps(verify_steps)).with_seeds(seeds).with_chunk_size(chunk_size)
    verify_records = lambda records: verify(records, model=model, train=train, original=original,
                                            protocol=verifying, ks=(1,), progress=progress)
    verified_by_k, work_timings = run_ks(
        ks, explain=lambda k: explain_k(ctx, targets, k), verify_records=verify_records,
        train=train, work_dir=work, seed=int(config.seed))
    table = cf_table.table(verified_by_k, users, published.ACCENT_TABLE1_RCF, methods=METHODS)
    markdown = cf_table.markdown(table)
  verified = [v for k in ks for v in verified_by_k[k]]
  record["metrics"] = {"users": len(users), "verified_records": len(verified),
                       "verified_this_run": work_timings.pop("verified_records", 0),
                       "original_model": training["cache"],
                       "original_loaded": training["loaded"],
                       "backend": jax.default_backend()}
  record["timings"] = {"train_original_s": training["seconds"], **work_timings,
                       "total_s": total.seconds}
  results.write(config=record, records=verified, rows=verified_rows(verified), table=table,
                markdown=markdown)
  return json.loads(to_json(table))
