"""Retrains per second: the batched engine vs a sequential JAX loop vs a PyTorch loop.

Workloads:
  * mf-ml100k: biased MF (dim 16, Adam) on a 70/30 random split of MovieLens 100K
    (70,000 training rows), full batch, 50 steps.
  * ncf-accent: NeuMF as ACCENT trains it on its MovieLens training file (61,054 rows),
    minibatches of 1246 rows (49 steps per epoch).

For each workload and number of models M, M random deletions of 3 rows each are retrained
from scratch (seed 0) by three methods, each reading out one user's scores of every item:
  * engine: `cfjax.train.retrain` (vmapped chunks of min(M, --chunk_size) models).
  * sequential: a Python loop calling ONE jitted single-model `fit` per deletion.
  * torch: `benchmarks/torch_reference.py`, the same models in idiomatic PyTorch.

Every method is warmed up first on identical shapes (compiles excluded) and then timed with
wall-clock time around the whole call, results on the host, best of --repeats runs (fewer
once a run pushes the method past --budget seconds). The per-model loops time at most
--loop_models deletions (fewer once past --budget) and scale linearly to M; the records say
so. Run:

  CFJAX_DATA_DIR=/work/shared/data python -m benchmarks.retrains_per_sec [--quick]
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import os
import pathlib
import platform
import subprocess
import sys
import time
from typing import Any, Sequence

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import torch_reference
from cfjax.models import make_mf, make_ncf
from cfjax.models.base import Recommender
from cfjax.train import (RetrainProtocol, TrainData, deleted_weights, fit, init_state,
                         pad_deletions, retrain, seed_keys, trace_count)

METHODS = ("engine", "sequential", "torch")
DELETION_SIZE = 3
DEFAULT_OUTPUT = pathlib.Path(__file__).resolve().parent / "results" / "retrains_per_sec.json"
# Goals printed beside the figures (not asserted), on the MF workload.
GOAL_VS_SEQUENTIAL = 2.0
GOAL_VS_TORCH = 30.0
GOAL_MODEL_STEPS = 2000.0
TIMING_NOTE = (
    "Wall-clock time.perf_counter() around the whole call of each method (host inputs in, "
    "host readouts out: the engine returns numpy; the sequential loop blocks on and fetches "
    "every model's readout; torch returns numpy). Every method is first warmed up on "
    "identical shapes, so jit compiles are excluded (the engine runs one chunk once per chunk "
    "shape, the "
    "sequential loop on one model, torch on one model of 2 steps; warm-up times are in "
    "warmup_seconds). Figures are the best (minimum) of up to `repeats` timed runs; no "
    "further run starts once the runs of a method add up to more than `budget` seconds (all "
    "runs are in all_seconds). The per-model loops (sequential, torch) time at most "
    "loop_models deletions, stopping early once past `budget`, and scale linearly by "
    "M / timed_models (extrapolated=true). retrains/s = M / seconds; model-steps/s = "
    "M * steps / seconds; speedups are engine retrains/s over the method's retrains/s at the "
    "same (workload, M). load_avg_1m is the machine's 1-minute load average when the "
    "method started: other processes on the CPU skew the figures (torch with several "
    "threads suffers most from a busy CPU).")

FLAGS = flags.FLAGS


def define_flags():
  """Defines the command-line flags (only when run as a script, so tests can import this)."""
  flags.DEFINE_bool("quick", False, "Short run (< 2 minutes): fewer M, one NCF epoch, 2 repeats.")
  flags.DEFINE_integer("chunk_size", 64, "Engine models per compiled call (min(M, this)).")
  flags.DEFINE_integer("repeats", None, "Timed runs per measurement (best is kept); default "
                       "2 with --quick, 3 otherwise.")
  flags.DEFINE_integer("mf_steps", 50, "Full-batch Adam steps per MF retrain.")
  flags.DEFINE_integer("ncf_steps", None, "Minibatch steps per NCF retrain; default 49 (one "
                       "epoch) with --quick, 147 (three epochs) otherwise.")
  flags.DEFINE_list("mf_models", None, "Values of M for MF; default 1,16 with --quick, "
                    "1,16,64,256 otherwise.")
  flags.DEFINE_list("ncf_models", None, "Values of M for NCF; default 1,16 with --quick, "
                    "1,16,64,256 otherwise.")
  flags.DEFINE_integer("loop_models", None, "The sequential and torch loops time at most this "
                       "many deletions and scale linearly; default 8 with --quick, 32 otherwise.")
  flags.DEFINE_float("budget", None, "Seconds per (workload, M, method): no further repeats or "
                     "timed loop deletions once passed; default 4 with --quick, 10 otherwise.")
  flags.DEFINE_integer("torch_threads", None, "torch intra-op threads; default os.cpu_count().")
  flags.DEFINE_string("torch_device", "cpu", "The torch device of the PyTorch loop: cpu, or "
                      "cuda on a GPU machine (benchmarks/accelerator_check.sh).")
  flags.DEFINE_bool("incremental", False, "Also write the JSON (partial=true) after every "
                    "(workload, M), so a run killed by a time limit keeps what finished.")
  flags.DEFINE_list("methods", list(METHODS), "Methods to run.")
  flags.DEFINE_list("workloads", ["mf-ml100k", "ncf-accent"], "Workloads to run.")
  flags.DEFINE_string("data_dir", None, "Data directory (default: $CFJAX_DATA_DIR).")
  flags.DEFINE_string("output", str(DEFAULT_OUTPUT), "Where to write the JSON results.")
  flags.DEFINE_integer("seed", 0, "Seed of the models and of the random deletions.")


@dataclasses.dataclass(frozen=True, eq=False)
class Workload:
  """One benchmark configuration: a model, its training rows and its training schedule.

  Attributes:
    name: e.g. "mf-ml100k".
    model: the JAX recommender (the torch reference copies its hparams).
    user, item, rating: host training rows [N].
    steps: optimizer steps per retrain.
    batch_size: rows per step, or None for full batch.
    readout_user: the user whose scores every method reads out.
  """

  name: str
  model: Recommender
  user: np.ndarray
  item: np.ndarray
  rating: np.ndarray
  steps: int
  batch_size: int | None
  readout_user: int = 0

  @property
  def num_rows(self) -> int:
    return len(self.user)

  @functools.cached_property
  def data(self) -> TrainData:
    """The rows on the device (built once)."""
    return TrainData(user=jnp.asarray(self.user, jnp.int32),
                     item=jnp.asarray(self.item, jnp.int32),
                     rating=jnp.asarray(self.rating, jnp.float32))

  def sizes(self) -> dict:
    """N, U, I, steps, batch size and the model's hyperparameters, for the JSON."""
    return dict(model=self.model.name, num_rows=self.num_rows, num_users=self.model.num_users,
                num_items=self.model.num_items, steps=self.steps, batch_size=self.batch_size,
                steps_per_epoch=(1 if self.batch_size is None
                                 else self.num_rows // self.batch_size),
                deletion_size=DELETION_SIZE, readout_user=self.readout_user,
                hparams=self.model.hparams)


# Readouts must be the same function object across calls, or the engine recompiles.
_READOUTS: dict[Recommender, Any] = {}


def user_scores_readout(model: Recommender):
  """A cached readout (params, user int32[]) -> float32[I]: one user's scores of all items."""
  if model not in _READOUTS:
    def readout(params, user):
      return model.scores(params, user[None])[0]
    _READOUTS[model] = readout
  return _READOUTS[model]


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _sequential_one(model, steps, batch_size, data, state, order_key, deleted_rows, user):
  """ONE model: `fit` on the data without `deleted_rows` from the shared init, read out."""
  weights = deleted_weights(deleted_rows, data.num_rows)
  state = fit(model, data, weights, state=state, order_key=order_key, steps=steps,
              batch_size=batch_size)
  return user_scores_readout(model)(state.params, user)


def random_deletions(num_rows: int, num_models: int, size: int = DELETION_SIZE,
                     seed: int = 0) -> np.ndarray:
  """int32[M, size]: M deletions of `size` distinct random rows each."""
  rng = np.random.default_rng(seed)
  return pad_deletions([rng.choice(num_rows, size, replace=False) for _ in range(num_models)],
                       size)


def _record(workload: Workload, num_models: int, method: str, times: Sequence[float] | None,
            **extra) -> dict:
  """One figure: seconds (best of the runs), retrains/s and model-steps/s."""
  if not times:
    return dict(workload=workload.name, M=num_models, method=method, seconds=None,
                retrains_per_s=None, model_steps_per_s=None, all_seconds=None, **extra)
  seconds = min(times)
  return dict(workload=workload.name, M=num_models, method=method, seconds=seconds,
              retrains_per_s=num_models / seconds,
              model_steps_per_s=num_models * workload.steps / seconds,
              all_seconds=list(times), **extra)


def _repeat(run, repeats: int, budget: float) -> tuple[list[float], Any]:
  """Calls `run` (-> (seconds, output)) up to `repeats` times, stopping once the timed
  seconds add up to more than `budget` (always at least once)."""
  times, output = [], None
  for _ in range(max(1, repeats)):
    seconds, output = run()
    times.append(seconds)
    if sum(times) > budget:
      break
  return times, output


# Engine configurations already compiled and run once (trace_count checks the claim).
_ENGINE_WARM: set = set()


def time_engine(workload: Workload, deletions: np.ndarray, *, chunk_size: int,
                repeats: int, budget: float = float("inf"), seed: int = 0
                ) -> tuple[dict, np.ndarray]:
  """Times `retrain` on the deletions; returns (record, readouts [M, I])."""
  num_models = len(deletions)
  chunk = min(num_models, chunk_size)
  users = np.full((num_models,), workload.readout_user, np.int32)

  def call(rows, args):
    return retrain(workload.model, workload.data, rows,
                   RetrainProtocol(steps=workload.steps, batch_size=workload.batch_size,
                                   seeds=[seed], chunk_size=chunk),
                   readout=user_scores_readout(workload.model), readout_args=args, progress=False)

  start = time.perf_counter()
  key = (workload.model, workload.steps, workload.batch_size, chunk, deletions.shape[1], seed)
  if key not in _ENGINE_WARM:  # compile on the same chunk shape (one chunk), once
    call(deletions[:chunk], users[:chunk])
    _ENGINE_WARM.add(key)
  warmup = time.perf_counter() - start
  traces_before = trace_count()

  def run():
    start = time.perf_counter()
    outputs = jax.block_until_ready(call(deletions, users).outputs)  # numpy: a no-op
    return time.perf_counter() - start, outputs

  times, outputs = _repeat(run, repeats, budget)
  traces_after = trace_count()
  record = _record(workload, num_models, "engine", times, chunk_size=chunk,
                   warmup_seconds=warmup, timed_models=num_models, extrapolated=False,
                   trace_count_before=traces_before, trace_count_after=traces_after,
                   recompiled=traces_after != traces_before)
  return record, np.asarray(outputs)[:, 0]


def _timed_loop(retrain_one, deletions: np.ndarray, *, repeats: int, loop_models: int,
                budget: float) -> tuple[list[float], np.ndarray, int]:
  """Times a per-model loop over the first deletions, scaled to all M of them.

  The first run retrains deletions one by one until `loop_models` are done or `budget`
  seconds have passed (at least one); later runs retrain the same number. Returns (seconds
  scaled by M / timed, readouts of the timed models, timed)."""
  num_models = len(deletions)
  limit = max(1, min(num_models, loop_models))
  start, outputs = time.perf_counter(), []
  for rows in deletions[:limit]:
    outputs.append(retrain_one(rows))
    if time.perf_counter() - start > budget:
      break
  timed = len(outputs)
  times = [(time.perf_counter() - start) * num_models / timed]

  def run():
    start = time.perf_counter()
    out = np.stack([retrain_one(rows) for rows in deletions[:timed]])
    return (time.perf_counter() - start) * num_models / timed, out

  if repeats > 1 and times[0] * timed / num_models <= budget:
    more, _ = _repeat(run, repeats - 1, budget - times[0] * timed / num_models)
    times += more
  return times, np.stack(outputs), timed


def time_sequential(workload: Workload, deletions: np.ndarray, *, repeats: int,
                    loop_models: int, budget: float = float("inf"), seed: int = 0
                    ) -> tuple[dict, np.ndarray]:
  """Times a Python loop of one jitted single-model fit per deletion."""
  model, data = workload.model, workload.data
  init_key, order_key = seed_keys(seed)
  state = jax.block_until_ready(init_state(model, init_key))  # the shared init
  user = jnp.asarray(workload.readout_user, jnp.int32)

  def retrain_one(rows):
    out = _sequential_one(model, workload.steps, workload.batch_size, data, state, order_key,
                          jnp.asarray(rows), user)
    return np.asarray(out.block_until_ready())

  start = time.perf_counter()
  retrain_one(deletions[0])  # compile
  warmup = time.perf_counter() - start
  times, outputs, timed = _timed_loop(retrain_one, deletions, repeats=repeats,
                                      loop_models=loop_models, budget=budget)
  record = _record(workload, len(deletions), "sequential", times, warmup_seconds=warmup,
                   timed_models=timed, extrapolated=timed < len(deletions))
  return record, outputs


def time_torch(workload: Workload, deletions: np.ndarray, *, repeats: int, loop_models: int,
               budget: float = float("inf"), threads: int | None = None,
               seed: int = 0, device: str = "cpu") -> dict:
  """Times the PyTorch per-model loop; a null record if torch is not installed."""
  num_models = len(deletions)
  if not torch_reference.available():  # main() prints the message once
    return _record(workload, num_models, "torch", None, skipped=torch_reference.SKIP_MESSAGE)
  threads = threads or os.cpu_count()
  trainer = torch_reference.TorchRetrainer(
      workload.model.name, workload.model.hparams, workload.user, workload.item,
      workload.rating, workload.model.num_users, workload.model.num_items,
      steps=workload.steps, batch_size=workload.batch_size, seed=seed, num_threads=threads,
      device=device)
  start = time.perf_counter()
  trainer.retrain_one(deletions[0], workload.readout_user, steps=min(workload.steps, 2))
  warmup = time.perf_counter() - start
  times, _, timed = _timed_loop(
      lambda rows: trainer.retrain_one(rows, workload.readout_user), deletions,
      repeats=repeats, loop_models=loop_models, budget=budget)
  return _record(workload, num_models, "torch", times, warmup_seconds=warmup,
                 timed_models=timed, extrapolated=timed < num_models, threads=threads,
                 device=device)


def measure(workload: Workload, num_models: int, *, methods: Sequence[str] = METHODS,
            chunk_size: int = 64, repeats: int = 3, loop_models: int = 32,
            budget: float = float("inf"), torch_threads: int | None = None,
            seed: int = 0, torch_device: str = "cpu") -> list[dict]:
  """Times every method on M random deletions of 3 rows of `workload`.

  Args:
    workload: the model, rows and schedule.
    num_models: M.
    methods: any of "engine", "sequential", "torch".
    chunk_size: the engine's chunk is min(M, chunk_size).
    repeats: at most this many timed runs per method (the best is kept).
    loop_models: the sequential and torch loops time at most this many deletions.
    budget: seconds per method: no further repeats (and, in the loops, no further timed
      deletions) once the timed seconds pass it; at least one run is always timed.
    torch_threads: torch intra-op threads (default: os.cpu_count()).
    seed: seed of the deletions and of every model.
    torch_device: the torch loop's device ("cpu", or "cuda" on a GPU).

  Returns:
    One record per method: workload, M, method, seconds, retrains_per_s, model_steps_per_s,
    all_seconds, warmup_seconds, timed_models, extrapolated, load_avg_1m (and, for the
    engine, chunk_size and trace counts; for the sequential loop, its largest deviation
    from the engine's readouts).
  """
  unknown = set(methods) - set(METHODS)
  if unknown:
    raise ValueError(f"unknown methods {sorted(unknown)}; choose from {METHODS}")
  deletions = random_deletions(workload.num_rows, num_models, DELETION_SIZE, seed)
  records, engine_outputs = [], None
  for method in METHODS:
    if method not in methods:
      continue
    load = _load_average()
    if method == "engine":
      record, engine_outputs = time_engine(workload, deletions, chunk_size=chunk_size,
                                           repeats=repeats, budget=budget, seed=seed)
    elif method == "sequential":
      record, outputs = time_sequential(workload, deletions, repeats=repeats,
                                        loop_models=loop_models, budget=budget, seed=seed)
      if engine_outputs is not None:  # same init, order and deletions: the same models
        record["max_abs_diff_vs_engine"] = float(
            np.max(np.abs(outputs - engine_outputs[:len(outputs)])))
    else:
      record = time_torch(workload, deletions, repeats=repeats, loop_models=loop_models,
                          budget=budget, threads=torch_threads, seed=seed,
                          device=torch_device)
    record["load_avg_1m"] = load
    records.append(record)
  return records


def _load_average() -> float | None:
  """The 1-minute load average (other processes on the machine skew every figure)."""
  try:
    return os.getloadavg()[0]
  except OSError:
    return None


def speedups(records: Sequence[dict]) -> list[dict]:
  """Engine retrains/s over sequential and torch retrains/s, per (workload, M)."""
  by_key: dict[tuple, dict] = {}
  for record in records:
    by_key.setdefault((record["workload"], record["M"]), {})[record["method"]] = record
  out = []
  for (workload, num_models), methods in by_key.items():
    engine = methods.get("engine", {}).get("retrains_per_s")
    row = dict(workload=workload, M=num_models)
    for other in ("sequential", "torch"):
      rate = methods.get(other, {}).get("retrains_per_s")
      row[f"engine_vs_{other}"] = engine / rate if engine and rate else None
    out.append(row)
  return out


def goals(records: Sequence[dict], ratios: Sequence[dict], workload: str = "mf-ml100k"
          ) -> list[dict]:
  """The (unasserted) goals on the MF workload, at every M measured."""
  out = []
  for row in ratios:
    if row["workload"] != workload:
      continue
    engine = next((r for r in records if r["workload"] == workload and r["M"] == row["M"]
                   and r["method"] == "engine"), None)
    checks = [("engine/sequential", row["engine_vs_sequential"], GOAL_VS_SEQUENTIAL),
              ("engine/torch", row["engine_vs_torch"], GOAL_VS_TORCH),
              ("engine model-steps/s", engine and engine["model_steps_per_s"], GOAL_MODEL_STEPS)]
    for name, value, target in checks:
      out.append(dict(workload=workload, M=row["M"], goal=name, target=target, value=value,
                      met=None if value is None else bool(value >= target)))
  return out


def _fmt(value, spec: str) -> str:
  return "-" if value is None else format(value, spec)


def format_table(records: Sequence[dict]) -> str:
  """A text table: workload, M, method, seconds, retrains/s, model-steps/s, engine speedup."""
  engine_rate = {(r["workload"], r["M"]): r["retrains_per_s"] for r in records
                 if r["method"] == "engine"}
  header = (f"{'workload':<12} {'M':>4} {'method':<10} {'seconds':>9} {'retrains/s':>11} "
            f"{'model-steps/s':>14} {'engine x':>9}  notes")
  lines = [header, "-" * len(header)]
  for r in records:
    base = engine_rate.get((r["workload"], r["M"]))
    ratio = base / r["retrains_per_s"] if base and r["retrains_per_s"] else None
    notes = []
    if r.get("extrapolated"):
      notes.append(f"timed {r['timed_models']} of {r['M']}")
    if r["method"] == "engine":
      notes.append(f"chunk {r['chunk_size']}, "
                   + ("RECOMPILED" if r["recompiled"] else "no recompile"))
    if r.get("max_abs_diff_vs_engine") is not None:
      notes.append(f"|diff vs engine| {r['max_abs_diff_vs_engine']:.1e}")
    if r.get("skipped"):
      notes.append("skipped: torch not installed")
    lines.append(f"{r['workload']:<12} {r['M']:>4} {r['method']:<10} "
                 f"{_fmt(r['seconds'], '9.3f')} {_fmt(r['retrains_per_s'], '11.1f')} "
                 f"{_fmt(r['model_steps_per_s'], '14,.0f')} {'-' if ratio is None else f'{ratio:.2f}x':>9}"
                 f"  {'; '.join(notes)}")
  return "\n".join(lines)


def format_goals(goal_rows: Sequence[dict]) -> str:
  """One line per goal: value, target and whether it is met."""
  lines = []
  for g in goal_rows:
    status = "n/a" if g["met"] is None else ("met" if g["met"] else "NOT met")
    lines.append(f"goal {g['workload']} M={g['M']:<4} {g['goal']:<22} "
                 f"{_fmt(g['value'], ',.1f'):>10} (target >= {g['target']:,.0f}): {status}")
  return "\n".join(lines)


def _cpu_model() -> str | None:
  try:
    out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
  except (OSError, subprocess.SubprocessError):
    out = ""
  for line in out.splitlines():
    if line.lower().startswith("model name"):
      return line.split(":", 1)[1].strip()
  try:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
      if line.lower().startswith("model name"):
        return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return None


def environment() -> dict:
  """Device and library versions, for the JSON."""
  import flax  # pylint: disable=g-import-not-at-top
  import jaxlib  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top
  return dict(
      device=dict(jax_devices=[str(d) for d in jax.devices()],
                  platform=jax.default_backend(), cpu_count=os.cpu_count(),
                  cpu_model=_cpu_model(), machine=platform.machine(),
                  system=platform.platform()),
      versions=dict(python=sys.version.split()[0], jax=jax.__version__,
                    jaxlib=jaxlib.__version__, flax=flax.__version__,
                    optax=optax.__version__, numpy=np.__version__,
                    torch=torch_reference.version()))


def write_json(payload: dict, path: str | os.PathLike) -> pathlib.Path:
  """Writes `payload` as indented JSON (parents created); returns the path."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_suffix(path.suffix + ".tmp")
  tmp.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")
  tmp.replace(path)
  return path


def _json_default(value):
  if isinstance(value, (np.integer, np.floating, np.bool_)):
    return value.item()
  if isinstance(value, np.ndarray):
    return value.tolist()
  return str(value)


def load_workloads(names: Sequence[str], *, mf_steps: int, ncf_steps: int,
                   data_dir: str | None = None, seed: int = 0) -> list[Workload]:
  """The real-data workloads: MF on a 70/30 MovieLens 100K split, NCF on ACCENT's data."""
  from cfjax import data as cfdata  # pylint: disable=g-import-not-at-top
  workloads = []
  for name in names:
    if name == "mf-ml100k":
      train, _ = cfdata.random_split(cfdata.load("movielens-100k", data_dir=data_dir),
                                     train_fraction=0.7, seed=seed)
      model = make_mf(train.num_users, train.num_items, dim=16,
                      global_mean=float(np.mean(train.rating)))
      workloads.append(Workload(name, model, train.user, train.item, train.rating,
                                steps=mf_steps, batch_size=None))
    elif name == "ncf-accent":
      rows = cfdata.load("accent-ml100k", data_dir=data_dir)
      model = make_ncf(rows.num_users, rows.num_items)
      workloads.append(Workload(name, model, rows.user, rows.item, rows.rating,
                                steps=ncf_steps, batch_size=1246))
    else:
      raise ValueError(f"unknown workload {name!r}; choose mf-ml100k or ncf-accent")
  return workloads


def main(argv):
  del argv
  wall_start = time.perf_counter()
  quick = FLAGS.quick
  repeats = FLAGS.repeats or (2 if quick else 3)
  ncf_steps = FLAGS.ncf_steps or (49 if quick else 147)
  loop_models = FLAGS.loop_models or (8 if quick else 32)
  budget = FLAGS.budget or (4.0 if quick else 10.0)
  torch_threads = FLAGS.torch_threads or os.cpu_count()
  mf_models = [int(m) for m in (FLAGS.mf_models or (["1", "16"] if quick
                                                    else ["1", "16", "64", "256"]))]
  ncf_models = [int(m) for m in (FLAGS.ncf_models or (["1", "16"] if quick
                                                      else ["1", "16", "64", "256"]))]
  data_dir = FLAGS.data_dir or os.environ.get("CFJAX_DATA_DIR")
  workloads = load_workloads(FLAGS.workloads, mf_steps=FLAGS.mf_steps, ncf_steps=ncf_steps,
                             data_dir=data_dir, seed=FLAGS.seed)
  env = environment()
  print(f"devices: {env['device']['jax_devices']} ({env['device']['cpu_model']}, "
        f"{env['device']['cpu_count']} cpus); torch: {env['versions']['torch']}")
  if "torch" in FLAGS.methods and not torch_reference.available():
    print(torch_reference.SKIP_MESSAGE)

  records = []
  for workload in workloads:
    sizes = workload.sizes()
    print(f"\n{workload.name}: N={sizes['num_rows']:,} U={sizes['num_users']} "
          f"I={sizes['num_items']} steps={workload.steps} batch={workload.batch_size or 'full'}")
    for num_models in (mf_models if workload.model.name == "mf" else ncf_models):
      new = measure(workload, num_models, methods=FLAGS.methods, chunk_size=FLAGS.chunk_size,
                    repeats=repeats, loop_models=loop_models, budget=budget,
                    torch_threads=torch_threads, seed=FLAGS.seed,
                    torch_device=FLAGS.torch_device)
      for r in new:
        print(f"  M={num_models:<4} {r['method']:<10} {_fmt(r['seconds'], '.3f')} s  "
              f"{_fmt(r['retrains_per_s'], '.1f')} retrains/s", flush=True)
      records += new
      if FLAGS.incremental:  # what finished survives a kill (accelerator_check's time limits)
        write_json(dict(benchmark="retrains_per_sec", partial=True, **env, records=records,
                        speedups=speedups(records)), FLAGS.output)

  ratios = speedups(records)
  goal_rows = goals(records, ratios)
  wall = time.perf_counter() - wall_start
  print("\n" + format_table(records))
  print("\n" + format_goals(goal_rows))
  print(f"\nwall time: {wall:.1f} s (compiles and data loading included)")
  payload = dict(
      benchmark="retrains_per_sec",
      timestamp=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      **env,
      sizes={w.name: w.sizes() for w in workloads},
      how_measured=TIMING_NOTE,
      records=records, speedups=ratios, goals=goal_rows,
      flags=dict(quick=quick, chunk_size=FLAGS.chunk_size, repeats=repeats,
                 mf_steps=FLAGS.mf_steps, ncf_steps=ncf_steps, mf_models=mf_models,
                 ncf_models=ncf_models, loop_models=loop_models, budget=budget,
                 torch_threads=torch_threads, torch_device=FLAGS.torch_device,
                 methods=list(FLAGS.methods),
                 workloads=list(FLAGS.workloads), data_dir=data_dir, seed=FLAGS.seed),
      wall_seconds=wall)
  print(f"wrote {write_json(payload, FLAGS.output)}")


if __name__ == "__main__":
  define_flags()
  app.run(main)
