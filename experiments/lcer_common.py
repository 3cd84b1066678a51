"""Shared pieces of the LCER runners: paper numbers, presets, data + Mult-VAE, the methods.

Reproduces Wen et al. (LCER), Table 2: FIA, KaffesCE, ACCENT and LCER on Mult-VAE's top-5 and
top-10 lists of the test users (their fold-in rows; removing items from a row and re-scoring is
the counterfactual, since Mult-VAE is amortised). Users and items in the records are the row of
the test user in `VaeSplit.test_tr` and the column index of the split (see `extra` for the
dataset ids).
"""

from __future__ import annotations

import csv
import json
import pathlib
import sys
import time

import jax
import numpy as np

from cfjax.data import load
from cfjax.data.vae_split import make_vae_split
from cfjax.evaluate.lcer_metrics import lcer_metrics, sufficiency_necessity
from cfjax.evaluate.records import ExplanationRecord, write_jsonl
from cfjax.evaluate.report import environment_info, finished_results, markdown_table
from cfjax.explain.kaffes import kaffes_explain
from cfjax.explain.lcer import (PAPER_LAMBDA_ALPHA, explain_in_chunks, make_lcer, pad_histories,
                                pair_keys, removed_items, top_k_pairs)
from cfjax.explain.lcer_baselines import explain_fia_accent
from cfjax.models.multvae import make_multvae, train_multvae

METHODS = ("fia", "kaffes", "accent", "lcer")
LABELS = {"fia": "FIA", "kaffes": "KaffesCE", "accent": "Accent", "lcer": "LCER"}
KS = (5, 10)
OFFLINE = {"alishop": "Alishop", "epinions": "Epinions"}

# Wen et al., Table 2: (dataset, method, K) -> (Val %, Len, PS %, PN %, F_NS %); FIA has no Val.
PAPER_TABLE2 = {
    ("movielens-100k", "fia", 5): (None, 1.000, 35.54, 27.47, 30.61),
    ("movielens-100k", "kaffes", 5): (68.0, 1.691, 47.06, 36.76, 41.28),
    ("movielens-100k", "accent", 5): (87.8, 3.431, 39.64, 60.82, 47.99),
    ("movielens-100k", "lcer", 5): (100.0, 4.461, 55.56, 61.41, 58.34),
    ("movielens-100k", "fia", 10): (None, 1.000, 42.52, 23.73, 30.47),
    ("movielens-100k", "kaffes", 10): (65.8, 1.948, 55.92, 39.36, 46.20),
    ("movielens-100k", "accent", 10): (86.0, 3.857, 47.67, 48.84, 48.25),
    ("movielens-100k", "lcer", 10): (88.5, 3.361, 66.63, 51.89, 58.34),
    ("ml-1m", "fia", 5): (None, 1.000, 25.80, 34.40, 29.49),
    ("ml-1m", "kaffes", 5): (56.8, 1.482, 41.20, 57.04, 47.84),
    ("ml-1m", "accent", 5): (97.0, 3.303, 34.43, 58.35, 43.31),
    ("ml-1m", "lcer", 5): (97.2, 3.685, 59.67, 64.20, 61.85),
    ("ml-1m", "fia", 10): (None, 1.000, 34.10, 28.60, 31.11),
    ("ml-1m", "kaffes", 10): (56.3, 1.622, 49.02, 58.97, 53.54),
    ("ml-1m", "accent", 10): (96.2, 3.418, 45.43, 44.59, 45.01),
    ("ml-1m", "lcer", 10): (96.8, 4.092, 70.04, 63.84, 66.80),
}

# Wen et al., Table 1 (after thresholding and the >= 5 filter).
PAPER_TABLE1 = {"movielens-100k": (938, 1447, 55361), "ml-1m": (6034, 3502, 575235)}

PRESETS = {
    # About a minute on two CPU cores: a short Mult-VAE, 10 test users, short LCER and search.
    "smoke": {"epochs": 20, "num_users": 10, "steps": 300, "kaffes_expansions": 10},
    # The paper's settings on all 100 test users (ML-100K; ML-1M explains 100 of its 500).
    "default": {"epochs": 200, "num_users": 100, "steps": 3000, "kaffes_expansions": 30},
    "paper": {"epochs": 200, "num_users": 100, "steps": 3000, "kaffes_expansions": 30},
}


def available_dataset(name: str) -> str | None:
  """The canonical dataset name, or None after printing one line if it is offline-only."""
  dataset = canonical_dataset(name)
  if dataset in OFFLINE:
    print(f"{OFFLINE[dataset]}: its files are not available offline; run "
          "--dataset=ml-100k or ml-1m", file=sys.stderr)
    return None
  return dataset


def canonical_dataset(name: str) -> str:
  """'ml-100k'/'movielens-100k' -> 'movielens-100k'; 'ml-1m'/'movielens-1m' -> 'ml-1m'."""
  key = name.strip().lower()
  if key in ("ml-100k", "movielens-100k", "movielens", "ml100k"):
    return "movielens-100k"
  if key in ("ml-1m", "movielens-1m", "ml1m"):
    return "ml-1m"
  if key in OFFLINE:
    return key
  raise ValueError(f"dataset {name!r} is not one of ml-100k, ml-1m, alishop, epinions; pick one")


def settings(*, dataset: str, preset: str, seed: int = 0, data_dir=None, lam=None, alpha=None,
             steps=None, num_users=None, methods=METHODS, chunk_size=None,
             kaffes_expansions=None) -> dict:
  """The run's settings from a preset plus overrides (None keeps the preset / paper value)."""
  if preset not in PRESETS:
    raise ValueError(f"preset {preset!r} is unknown; use one of {', '.join(PRESETS)}")
  dataset = canonical_dataset(dataset)
  out = dict(PRESETS[preset], preset=preset, dataset=dataset, seed=int(seed), data_dir=data_dir,
             methods=list(methods), chunk_size=chunk_size)
  paper_lam, paper_alpha = PAPER_LAMBDA_ALPHA[dataset]
  out["lam"] = paper_lam if lam is None else float(lam)
  out["alpha"] = paper_alpha if alpha is None else float(alpha)
  for name, value in (("steps", steps), ("num_users", num_users),
                      ("kaffes_expansions", kaffes_expansions)):
    if value is not None:
      out[name] = int(value)
  unknown = set(out["methods"]) - set(METHODS)
  if unknown:
    raise ValueError(f"unknown methods {sorted(unknown)}; pick from {', '.join(METHODS)}")
  return out


def prepare(s: dict) -> dict:
  """Loads the data, makes the Mult-VAE split and trains Mult-VAE (best epoch by NDCG@100)."""
  t0 = time.perf_counter()
  heldout = 100 if s["dataset"] == "movielens-100k" else 500
  split = make_vae_split(load(s["dataset"], data_dir=s["data_dir"]), n_heldout_users=heldout,
                         seed=98765 + s["seed"])
  model = make_multvae(split.num_items)
  trained = train_multvae(model, split.train, split.val_tr, split.val_te,
                          key=jax.random.key(s["seed"]), epochs=s["epochs"])
  test_ndcg = None
  return {"split": split, "model": model, "params": trained.params, "trained": trained,
          "test_ndcg": test_ndcg, "seconds": time.perf_counter() - t0}


def explain_all(s: dict, prep: dict, k: int, methods=None) -> tuple[dict, dict]:
  """Records of every method for the top-K lists of the first `num_users` test users.

  Returns:
    ({method: [ExplanationRecord]}, {method: seconds}).
  """
  split, model, params = prep["split"], prep["model"], prep["params"]
  x = split.test_tr[:s["num_users"]]
  x = x[x.sum(axis=1) > 0]
  pairs = top_k_pairs(model.score, params, x, k)
  rows, items = pairs["rows"], pairs["items"]
  sets, seconds = {}, {}
  methods = methods or s["methods"]
  if {"fia", "accent"} & set(methods):
    t0 = time.perf_counter()
    both = explain_fia_accent(model.score, params, x, pairs["top"])
    for m in ("fia", "accent"):
      sets[m] = both[m]
      seconds[m] = (time.perf_counter() - t0) / 2
  if "kaffes" in methods:
    t0 = time.perf_counter()
    sets["kaffes"] = [kaffes_explain(model.score, params, x[r], int(i), k,
                                     max_expansions=s["kaffes_expansions"])[0]
                      for r, i in zip(rows, items)]
    seconds["kaffes"] = time.perf_counter() - t0
  if "lcer" in methods:
    t0 = time.perf_counter()
    hist, mask = pad_histories(x[rows])
    explain = make_lcer(model.history_item_score, lam=s["lam"], alpha=s["alpha"],
                        steps=s["steps"])
    result = explain_in_chunks(explain, params, hist, mask, items, pairs["margins"],
                               pair_keys(jax.random.key(1000 + s["seed"]), len(items)),
                               chunk_size=s["chunk_size"])
    sets["lcer"] = removed_items(result, hist)
    seconds["lcer"] = time.perf_counter() - t0
  records = {}
  for m in methods:
    removed = np.zeros((len(items), x.shape[1]), bool)
    for p, subset in enumerate(sets[m]):
      removed[p, list(subset)] = True
    suff, nec = sufficiency_necessity(model.score, params, x[rows], removed, items, k)
    records[m] = [ExplanationRecord(
        user=int(rows[p]), item=int(items[p]), deleted_items=sets[m][p],
        replacement=int(pairs["top"][rows[p], k]) if m == "accent" else None, method=m,
        extra={"k": k, "position": int(pairs["positions"][p]), "sufficient": bool(suff[p]),
               "necessary": bool(nec[p]), "dataset_user": int(split.test_users[rows[p]]),
               "dataset_item": int(split.item_ids[items[p]])})
        for p in range(len(items))]
  return records, seconds


def table_rows(dataset: str, metrics: dict) -> list[list]:
  """Markdown rows: method, K, ours (Val, Len, PS, PN, F_NS in %) and the paper's."""
  pct = lambda v: None if v is None else round(100 * v, 2)
  out = []
  for k in KS:
    for m in METHODS:
      if (m, k) not in metrics:
        continue
      ours = metrics[(m, k)]
      paper = PAPER_TABLE2.get((dataset, m, k), (None,) * 5)
      out.append([LABELS[m], k, pct(ours["validity"]), ours["length"], pct(ours["ps"]),
                  pct(ours["pn"]), pct(ours["f_ns"])] + list(paper))
  return out


HEADER = ["method", "K", "Val %", "Len", "PS %", "PN %", "F_NS %", "paper Val %", "paper Len",
          "paper PS %", "paper PN %", "paper F_NS %"]


def write_results(output_dir, *, config: dict, records: list, table: dict, markdown: str) -> None:
  """config.json, explanations.jsonl, rows.csv, table.md, then table.json (marks a finished run)."""
  path = pathlib.Path(output_dir)
  path.mkdir(parents=True, exist_ok=True)
  (path / "table.json").unlink(missing_ok=True)
  (path / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
  write_jsonl(path / "explanations.jsonl", records)
  fields = ["method", "k", "user", "item", "position", "found", "length", "deleted_items",
            "sufficient", "necessary"]
  with open(path / "rows.csv", "w", newline="", encoding="utf-8") as f:
    writer = csv.DictWriter(f, fields)
    writer.writeheader()
    for r in records:
      writer.writerow({"method": r.method, "k": r.extra["k"], "user": r.user, "item": r.item,
                       "position": r.extra["position"], "found": bool(r.deleted_items),
                       "length": len(r.deleted_items),
                       "deleted_items": " ".join(map(str, r.deleted_items)),
                       "sufficient": r.extra["sufficient"], "necessary": r.extra["necessary"]})
  (path / "table.md").write_text(markdown)
  (path / "table.json").write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")


def run_table2(s: dict, output_dir, *, progress=print) -> dict:
  """Runs (or reuses a finished run of) Table 2 for one dataset; returns table.json's dict."""
  config = {"runner": "lcer_table2", "model": "multvae", "settings": s,
            "environment": environment_info()}
  done = finished_results(output_dir, config)
  if done is not None:
    progress(f"reusing the finished run in {output_dir}")
    return done
  t0 = time.perf_counter()
  prep = prepare(s)
  progress(f"Mult-VAE: best epoch {prep['trained'].best_epoch}, validation NDCG@100 "
           f"{prep['trained'].best_ndcg:.4f} ({prep['seconds']:.1f} s)")
  metrics, all_records, timings = {}, [], {"mult_vae": prep["seconds"]}
  for k in KS:
    records, seconds = explain_all(s, prep, k)
    for m, recs in records.items():
      metrics[(m, k)] = lcer_metrics(recs, len(recs), report_validity=m != "fia")
      timings[f"{m}@{k}"] = seconds[m]
      all_records += recs
      progress(f"K={k} {m}: {metrics[(m, k)]} ({seconds[m]:.1f} s)")
  timings["total"] = time.perf_counter() - t0
  rows = table_rows(s["dataset"], metrics)
  counts = prep["split"].counts
  markdown = (f"LCER Table 2 on {s['dataset']} (preset {s['preset']}; lambda={s['lam']}, "
              f"alpha={s['alpha']}, {s['steps']} LCER steps, {s['num_users']} test users; "
              f"Mult-VAE best epoch {prep['trained'].best_epoch}, val NDCG@100 "
              f"{prep['trained'].best_ndcg:.4f})\n\n" + markdown_table(HEADER, rows)
              + f"\nData: {counts}; paper Table 1: {PAPER_TABLE1.get(s['dataset'])}.\n"
              + f"Run time: {timings['total']:.0f} s.\n")
  table = {"metrics": {f"{m}@{k}": v for (m, k), v in metrics.items()}, "rows": rows,
           "header": HEADER, "counts": counts, "best_epoch": prep["trained"].best_epoch,
           "val_ndcg100": prep["trained"].best_ndcg}
  config["timings"] = timings
  write_results(output_dir, config=config, records=all_records, table=table, markdown=markdown)
  return table


# --- Reuse of finished work (Table 3 and the sweep) -----------------------------------------

CACHE_ROOT = "results/lcer_cache"
# Settings that decide a record set (besides the method and K); data_dir, methods and chunk_size
# do not change results.
RESULT_KEYS = ("dataset", "seed", "epochs", "num_users", "steps", "kaffes_expansions", "lam",
               "alpha")


def _pairs_of(s: dict, prep: dict, k: int) -> list[tuple[int, int]]:
  """The (row, item) pairs `explain_all` explains, in its order."""
  x = prep["split"].test_tr[:s["num_users"]]
  x = x[x.sum(axis=1) > 0]
  pairs = top_k_pairs(prep["model"].score, prep["params"], x, k)
  return list(zip(pairs["rows"].tolist(), pairs["items"].tolist()))


def _same_pairs(records: list, pairs: list) -> bool:
  return [(r.user, r.item) for r in records] == pairs


def reuse_table2(s: dict, prep: dict, k: int, methods, table2_dir) -> dict:
  """Records of `methods` at K from a finished lcer_table2 run with the same settings.

  A method is reused only if its records cover exactly this run's (row, item) pairs (so a
  Mult-VAE that trained differently is caught); LCER's records also need the same lambda/alpha.

  Returns:
    {method: [ExplanationRecord]} for the methods found (possibly empty).
  """
  path = pathlib.Path(table2_dir)
  try:
    old = json.loads((path / "config.json").read_text())["settings"]
    json.loads((path / "table.json").read_text())
  except (OSError, ValueError, KeyError):
    return {}
  keys = [key for key in RESULT_KEYS if key not in ("lam", "alpha")]
  if any(old.get(key) != s.get(key) for key in keys):
    return {}
  from cfjax.evaluate.records import read_jsonl
  records = read_jsonl(path / "explanations.jsonl")
  pairs = _pairs_of(s, prep, k)
  out = {}
  for m in methods:
    if m == "lcer" and (old.get("lam"), old.get("alpha")) != (s["lam"], s["alpha"]):
      continue
    recs = [r for r in records if r.method == m and r.extra.get("k") == k]
    if recs and _same_pairs(recs, pairs):
      out[m] = recs
  return out


def cache_dir(s: dict, root=CACHE_ROOT) -> pathlib.Path:
  """Directory of LCER grid points for these data/model/step settings."""
  return pathlib.Path(root) / (f"{s['dataset']}-seed{s['seed']}-e{s['epochs']}-"
                               f"u{s['num_users']}-s{s['steps']}")


def lcer_point(s: dict, prep: dict, k: int, *, root=CACHE_ROOT, table2_dir=None,
               progress=print) -> tuple[list, float, str]:
  """LCER's records at s['lam'], s['alpha'] and K, reused if already computed.

  Looks in the cache (`cache_dir(s)/k{K}-lam{lam}-alpha{alpha}.jsonl`), then in a finished
  Table 2 run (`table2_dir`), else runs LCER and writes the cache file (so interrupted grids
  resume point by point). Cached records are used only if they cover this run's pairs.

  Returns:
    (records, seconds spent now, source) with source 'cache', 'table2' or 'computed'.
  """
  from cfjax.evaluate.records import read_jsonl
  path = cache_dir(s, root) / f"k{k}-lam{s['lam']:g}-alpha{s['alpha']:g}.jsonl"
  pairs = None
  if path.is_file():
    recs = read_jsonl(path)
    pairs = _pairs_of(s, prep, k)
    if _same_pairs(recs, pairs):
      return recs, 0.0, "cache"
    progress(f"{path}: pairs differ from this run's; recomputing")
  if table2_dir is not None:
    found = reuse_table2(s, prep, k, ["lcer"], table2_dir)
    if "lcer" in found:
      path.parent.mkdir(parents=True, exist_ok=True)
      write_jsonl(path, found["lcer"])
      return found["lcer"], 0.0, "table2"
  t0 = time.perf_counter()
  records, _ = explain_all(s, prep, k, methods=["lcer"])
  seconds = time.perf_counter() - t0
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_suffix(".tmp")
  write_jsonl(tmp, records["lcer"])
  tmp.replace(path)
  return records["lcer"], seconds, "computed"
