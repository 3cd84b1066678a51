"""The first run on a GPU machine with no network: prepare here, carry, measure there.

  bash benchmarks/accelerator_check.sh --prepare   # here (registry and datasets reachable)
  bash benchmarks/accelerator_check.sh --dry_run   # the plan, limits and carried size
  bash benchmarks/accelerator_check.sh             # on the GPU machine (device tool: carry .accel)

`--prepare` fills the ignored folder `.accel/` (CARRY_DIR): `.accel/wheels/` with the wheels
the GPU image lacks (ml_collections, `pip download --no-deps`, or copied from
`--wheels_from=DIR`), `.accel/data/<dataset>/` with the dataset folders the steps read (from
`--data_from`, else $CFJAX_DATA_DIR, else ../shared/data), and `.accel/manifest.json`; it prints
the folder's size, which must stay under CARRY_LIMIT_MIB (the device tool carries 64 MiB).

The run (default) uses the interpreter that already has a CUDA JAX ($PYTHON, default python3):
  1. refuses in one line (exit 2) unless `jax.default_backend() == "gpu"`, before installing
     anything (CFJAX_ACCEL_ALLOW_CPU=1 skips the refusal and every install: for testing the
     step commands on a CPU, with --quick);
  2. installs the carried wheels (`pip install --no-deps --no-index`; a pure-Python wheel is
     unpacked onto PYTHONPATH if pip refuses) and the project (`pip install --no-deps -e .`;
     the steps run from the repository root with it on PYTHONPATH either way);
  3. runs the steps of `plan()`, most valuable first, each under its own time limit and all
     within WALL_LIMIT_S, writing under $OUT (else results/accelerator_check/): one folder or
     JSON per step, logs/<step>.log, and accelerator_check.json, rewritten after every step so
     a kill keeps what finished.

`--measure=chunk_scaling|rcf_step` are two of those steps (they import JAX; the rest of this
module imports only the standard library, so --prepare and --dry_run run anywhere).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from typing import Sequence

REPO = pathlib.Path(__file__).resolve().parents[1]
CARRY_DIR = ".accel"  # ignored by git; the device tool's `carry` must name it
DATASETS = ("ml-100k", "accent-ml100k")  # MovieLens 100K; ACCENT's NCF and RCF files
WHEELS = ("ml_collections",)  # what the GPU image lacks (docs: /work/shared/design/GPU.md)
CARRY_LIMIT_MIB = 64
WALL_LIMIT_S = 480  # the whole run, so it fits twice in a short GPU lease
ALLOW_CPU_ENV = "CFJAX_ACCEL_ALLOW_CPU"
REFUSAL_EXIT = 2
GPU_MODELS = (16, 64, 256, 1024)  # M of the throughput steps
CHUNK_MODELS = (16, 64, 256, 1024, 2048)  # chunk sizes of the scaling step (one chunk each)
RCF_BATCH = 512  # triples per step, as ACCENT trains RCF

BACKEND_PROBE = (
    "import json, jax, jaxlib; print(json.dumps(dict(backend=jax.default_backend(), "
    "devices=[str(d) for d in jax.devices()], jax=jax.__version__, jaxlib=jaxlib.__version__)))")


@dataclasses.dataclass(frozen=True)
class Step:
  """One measured step: a command run from the repository root under a time limit.

  Attributes:
    name: short id (its log is logs/<name>.log under the output folder).
    argv: the command.
    limit_s: seconds before it is killed (less if the run's wall limit comes first).
    what: one line: what it measures.
    outputs: the files or folders it writes, relative to the output folder.
  """

  name: str
  argv: tuple[str, ...]
  limit_s: int
  what: str
  outputs: tuple[str, ...]


def plan(python: str, out: pathlib.Path, *, quick: bool = False,
         torch_device: str = "cuda") -> list[Step]:
  """The measured steps, most valuable first.

  Args:
    python: the interpreter with the GPU JAX.
    out: the output folder (every path in the commands is under it).
    quick: tiny settings and short limits, for checking the commands on a CPU.
    torch_device: the PyTorch loop's device ("cuda" on the GPU machine).
  """
  models = "2,4" if quick else ",".join(map(str, GPU_MODELS))
  throughput = [python, "-m", "benchmarks.retrains_per_sec", "--incremental",
                f"--torch_device={torch_device}", "--methods=engine,sequential,torch",
                f"--chunk_size={4 if quick else 256}", "--repeats=2",
                f"--loop_models={2 if quick else 8}", f"--budget={1 if quick else 5}"]
  table_preset = "smoke" if quick else "default"
  cell = [python, "-m", "experiments.benchmark", "--preset=smoke",
          f"--output_dir={out / 'benchmark_cell'}"]
  if quick:  # fewer targets and methods: the same command, seconds instead of minutes
    cell += ["--config.users=2", "--config.methods=('knn','influence_function')",
             "--config.budgets=(1,)", "--config.ks=(1,)", "--config.simulation.users=2",
             "--config.simulation.subsets=2", "--config.lds.users=0"]
  me = [python, "-m", "benchmarks.accelerator_check"]
  steps = [
      Step("throughput_mf", tuple(throughput + [
          "--workloads=mf-ml100k", f"--mf_models={models}", f"--mf_steps={3 if quick else 50}",
          f"--output={out / 'retrains_per_sec_mf.json'}"]), 60 if quick else 110,
           "retrains/s and model-steps/s: engine vs sequential JAX vs PyTorch, MF on "
           "ML-100K", ("retrains_per_sec_mf.json",)),
      Step("throughput_ncf", tuple(throughput + [
          "--workloads=ncf-accent", f"--ncf_models={models}",
          f"--ncf_steps={2 if quick else 49}", f"--output={out / 'retrains_per_sec_ncf.json'}"]),
           90,
           "retrains/s and model-steps/s: engine vs sequential JAX vs PyTorch, NCF on "
           "ACCENT's data", ("retrains_per_sec_ncf.json",)),
      Step("chunk_scaling", tuple(me + ["--measure=chunk_scaling",
                                        f"--output={out / 'chunk_scaling.json'}"]
                                  + (["--quick"] if quick else [])), 45 if quick else 75,
           "the engine's seconds and device memory per chunk as the chunk grows (MF, "
           "ML-100K): where it stops scaling", ("chunk_scaling.json",)),
      Step("table", (python, "-m", "experiments.retrain_verify", f"--preset={table_preset}",
                     f"--output_dir={out / f'retrain_verify_{table_preset}'}"),
           120, f"one {table_preset} retrain_verify table, end to end",
           (f"retrain_verify_{table_preset}",)),
      Step("rcf_step", tuple(me + ["--measure=rcf_step", f"--output={out / 'rcf_step.json'}"]
                             + (["--quick"] if quick else [])), 150 if quick else 90,
           "seconds per RCF training step (ACCENT's triples, batch 512)", ("rcf_step.json",)),
      Step("leaderboard_cell", tuple(cell), 100,
           "one leaderboard cell (benchmark smoke preset: MovieLens 100K x MF)",
           ("benchmark_cell",)),
  ]
  return steps


def folder_mib(path: pathlib.Path) -> float:
  """Size of every file under `path` in MiB (0 if it does not exist)."""
  if not path.exists():
    return 0.0
  return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def _sha256(path: pathlib.Path) -> str:
  return hashlib.sha256(path.read_bytes()).hexdigest()


def _installed_version(package: str) -> str | None:
  try:
    from importlib import metadata  # pylint: disable=g-import-not-at-top
    return metadata.version(package)
  except Exception:  # not installed here: download the newest
    return None


def fetch_wheels(wheels_dir: pathlib.Path, *, wheels_from: pathlib.Path | None = None,
                 python: str = sys.executable) -> list[pathlib.Path]:
  """Puts one wheel per package of WHEELS in `wheels_dir`.

  With `wheels_from` (a folder of wheels, e.g. a pip cache or an earlier --prepare) they are
  copied from there; otherwise `pip download --no-deps` fetches each, pinned to the version
  installed here when there is one. Raises ValueError (one line) when one cannot be had."""
  wheels_dir.mkdir(parents=True, exist_ok=True)
  found = []
  for package in WHEELS:
    stem = package.replace("-", "_").lower()
    if wheels_from is not None:
      matches = sorted(p for p in pathlib.Path(wheels_from).glob("*.whl")
                       if p.name.lower().startswith(stem + "-"))
      if not matches:
        raise ValueError(f"no {package} wheel in --wheels_from={wheels_from}; put one there "
                         f"(pip download --no-deps {package}) or leave the flag out")
      target = wheels_dir / matches[-1].name
      if matches[-1].resolve() != target.resolve():
        shutil.copy2(matches[-1], target)
      found.append(target)
      continue
    version = _installed_version(package)
    spec = f"{package}=={version}" if version else package
    result = subprocess.run([python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                             "-d", str(wheels_dir), spec], capture_output=True, text=True)
    matches = sorted(p for p in wheels_dir.glob("*.whl") if p.name.lower().startswith(stem + "-"))
    if result.returncode != 0 or not matches:
      last = (result.stderr.strip().splitlines() or ["no output"])[-1]
      raise ValueError(f"pip download --no-deps {spec} failed ({last}); pass "
                       "--wheels_from=<a folder with the wheel> instead")
    found.append(matches[-1])
  return found


def data_source(data_from: str | None) -> pathlib.Path:
  """Where --prepare copies datasets from: --data_from, $CFJAX_DATA_DIR, or ../shared/data."""
  if data_from:
    return pathlib.Path(data_from)
  if os.environ.get("CFJAX_DATA_DIR"):
    return pathlib.Path(os.environ["CFJAX_DATA_DIR"])
  return REPO.parent / "shared" / "data"


def prepare(carry: pathlib.Path, *, data_from: pathlib.Path,
            wheels_from: pathlib.Path | None = None, python: str = sys.executable) -> dict:
  """Fills `carry` with wheels/ and data/<dataset>/ and writes manifest.json; returns it.

  Raises ValueError (one line) on a missing dataset, a missing wheel, or a folder that would
  not travel (>= CARRY_LIMIT_MIB)."""
  missing = [d for d in DATASETS if not (data_from / d).is_dir()]
  if missing:
    raise ValueError(f"dataset folders {missing} not found under {data_from}; pass "
                     "--data_from=<data root> or set CFJAX_DATA_DIR")
  wheels = fetch_wheels(carry / "wheels", wheels_from=wheels_from, python=python)
  for dataset in DATASETS:
    shutil.copytree(data_from / dataset, carry / "data" / dataset, dirs_exist_ok=True)
  size = folder_mib(carry)
  manifest = dict(
      prepared=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      data_from=str(data_from),
      datasets={d: round(folder_mib(carry / "data" / d), 2) for d in DATASETS},
      wheels={w.name: _sha256(w) for w in wheels}, size_mib=round(size, 2),
      limit_mib=CARRY_LIMIT_MIB)
  (carry / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
  if size >= CARRY_LIMIT_MIB:
    raise ValueError(f"{carry} is {size:.1f} MiB, over the {CARRY_LIMIT_MIB} MiB the device "
                     "tool carries; remove what the steps do not read")
  return manifest


def describe_plan(steps: Sequence[Step], python: str, carry: pathlib.Path,
                  out: pathlib.Path) -> str:
  """The plan as text: setup, then each step's limit, command and purpose, and the carry."""
  size = folder_mib(carry)
  lines = [
      f"accelerator_check: the plan (whole run <= {WALL_LIMIT_S} s; output: {out})",
      f"  0. check: {python} -c 'import jax; jax.default_backend()' must say 'gpu', else "
      f"refuse (exit {REFUSAL_EXIT})",
      f"     install: {python} -m pip install --no-deps --no-index {carry}/wheels/*.whl "
      "(if ml_collections is missing); "
      f"{python} -m pip install --no-deps --no-index --no-build-isolation -e .",
      f"     env: CFJAX_DATA_DIR={carry}/data PYTHONPATH={REPO} "
      "XLA_PYTHON_CLIENT_PREALLOCATE=false"]
  for number, step in enumerate(steps, 1):
    lines.append(f"  {number}. [{step.name}] limit {step.limit_s} s: {step.what}")
    lines.append(f"     {' '.join(step.argv)}")
  lines.append(f"  then: {out}/accelerator_check.json (rewritten after every step)")
  total = sum(s.limit_s for s in steps)
  lines.append(f"step limits add up to {total} s; the run stops starting steps at "
               f"{WALL_LIMIT_S} s and cuts the last one's limit to what is left")
  if size:
    lines.append(f"carried folder {carry}: {size:.1f} MiB (limit {CARRY_LIMIT_MIB} MiB); "
                 f"device tool: carry=[\"{CARRY_DIR}\"]")
  else:
    lines.append(f"carried folder {carry}: not prepared (0 MiB): run "
                 "`bash benchmarks/accelerator_check.sh --prepare` first")
  return "\n".join(lines)


def step_env(carry: pathlib.Path, site: pathlib.Path | None = None) -> dict:
  """The steps' environment: the carried data, the repository (and unpacked wheels) on
  PYTHONPATH, no up-front GPU memory grab (torch shares the device with JAX)."""
  env = dict(os.environ)
  if (carry / "data").is_dir():
    env["CFJAX_DATA_DIR"] = str(carry / "data")
  paths = [str(REPO)] + ([str(site)] if site else [])
  env["PYTHONPATH"] = os.pathsep.join(paths + [p for p in [env.get("PYTHONPATH")] if p])
  env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
  return env


def probe_backend(python: str, timeout: float = 120) -> tuple[dict | None, str]:
  """(jax's backend, devices and versions under `python`, or None; why not)."""
  try:
    result = subprocess.run([python, "-c", BACKEND_PROBE], capture_output=True, text=True,
                            timeout=timeout, cwd=REPO)
  except (OSError, subprocess.TimeoutExpired) as error:
    return None, f"{python} could not run ({error.__class__.__name__}: {error})"
  if result.returncode != 0:
    last = (result.stderr.strip().splitlines() or ["no output"])[-1]
    return None, f"{python} cannot import jax ({last})"
  return json.loads(result.stdout.strip().splitlines()[-1]), ""


def _quiet(argv: Sequence[str], env: dict | None = None, timeout: float = 90) -> tuple[int, str]:
  try:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                            cwd=REPO, env=env)
  except (OSError, subprocess.TimeoutExpired) as error:
    return -1, repr(error)
  return result.returncode, (result.stdout + result.stderr)[-2000:]


def install(python: str, carry: pathlib.Path) -> tuple[list[dict], pathlib.Path | None]:
  """Installs the carried wheels (if their packages are missing) and the project, --no-deps.

  A pure-Python wheel pip will not install (e.g. an externally managed interpreter) is
  unpacked into <carry>/site, returned for PYTHONPATH. Returns (records, that folder)."""
  records, site = [], None
  missing = [p for p in WHEELS if _quiet([python, "-c", f"import {p}"])[0] != 0]
  wheels = sorted((carry / "wheels").glob("*.whl"))
  if missing:
    code, tail = _quiet([python, "-m", "pip", "install", "--no-deps", "--no-index",
                         *map(str, wheels)]) if wheels else (-1, "no carried wheels")
    records.append(dict(step="install_wheels", packages=missing, exit_code=code, tail=tail))
    if code != 0:
      site = carry / "site"
      for wheel in wheels:
        if wheel.name.endswith("-none-any.whl"):
          with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)
      records.append(dict(step="unpack_wheels", into=str(site),
                          wheels=[w.name for w in wheels]))
  code, tail = _quiet([python, "-m", "pip", "install", "--no-deps", "--no-index",
                       "--no-build-isolation", "-e", str(REPO)])
  records.append(dict(step="install_project", exit_code=code, tail=tail[-500:],
                      note="non-fatal: the steps run from the repository root on PYTHONPATH"))
  env = step_env(carry, site)
  for package in WHEELS + ("yaml",):
    code, tail = _quiet([python, "-c", f"import {package}"], env=env)
    records.append(dict(step=f"import_{package}", exit_code=code,
                        tail=tail[-300:] if code else ""))
  return records, site


def run_step(step: Step, *, limit_s: float, env: dict, logs: pathlib.Path) -> dict:
  """Runs one step under `limit_s` (its whole process group killed at the limit); returns
  its record: status ok / failed / timeout, exit code, seconds, log path."""
  logs.mkdir(parents=True, exist_ok=True)
  log = logs / f"{step.name}.log"
  start = time.perf_counter()
  with open(log, "w") as sink:
    process = subprocess.Popen(list(step.argv), cwd=REPO, env=env, stdout=sink,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
      code = process.wait(timeout=limit_s)
      status = "ok" if code == 0 else "failed"
    except subprocess.TimeoutExpired:
      os.killpg(process.pid, signal.SIGKILL)
      code, status = process.wait(), "timeout"
  seconds = time.perf_counter() - start
  return dict(step=step.name, status=status, exit_code=code, seconds=round(seconds, 1),
              limit_s=round(limit_s, 1), command=" ".join(step.argv), log=str(log),
              outputs=list(step.outputs), what=step.what)


def _tail(path: str, lines: int = 6) -> str:
  try:
    return "\n".join(pathlib.Path(path).read_text(errors="replace").splitlines()[-lines:])
  except OSError:
    return ""


def _highlights(out: pathlib.Path) -> dict:
  """The headline figures of the finished steps (engine speedups, chunk scaling, RCF)."""
  found = {}
  for name in ("retrains_per_sec_mf", "retrains_per_sec_ncf", "chunk_scaling", "rcf_step"):
    path = out / f"{name}.json"
    if path.exists():
      try:
        payload = json.loads(path.read_text())
      except ValueError:
        continue
      keep = ("speedups", "partial") if name.startswith("retrains") else (
          "stops_scaling_at", "rows", "seconds_per_step", "error")
      found[name] = {k: payload[k] for k in keep if k in payload}
  return found


def write_summary(out: pathlib.Path, summary: dict) -> None:
  """accelerator_check.json under `out`, with the finished steps' headline figures."""
  summary = dict(summary, highlights=_highlights(out))
  tmp = out / "accelerator_check.json.tmp"
  tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n")
  tmp.replace(out / "accelerator_check.json")


def run_all(python: str, carry: pathlib.Path, out: pathlib.Path, *, quick: bool,
            allow_cpu: bool) -> int:
  """Checks the GPU (refusing in one line without one), installs, runs every step."""
  wall_start = time.perf_counter()
  backend, why = probe_backend(python)
  if backend is None or backend["backend"] != "gpu":
    if not allow_cpu:
      seen = why or f"jax.default_backend() is {backend['backend']!r}, not 'gpu'"
      print(f"accelerator_check: refusing: {seen}; nothing was installed or run (run it on "
            "the GPU machine: docs/engine.md)", file=sys.stderr)
      return REFUSAL_EXIT
    if backend is None:
      print(f"accelerator_check: {why}", file=sys.stderr)
      return REFUSAL_EXIT
  gpu = backend["backend"] == "gpu"
  out.mkdir(parents=True, exist_ok=True)
  nvidia = _quiet(["nvidia-smi", "-L"], timeout=20)[1] if shutil.which("nvidia-smi") else ""
  summary = dict(check="accelerator_check",
                 started=datetime.datetime.now(datetime.timezone.utc).isoformat(
                     timespec="seconds"),
                 python=python, **backend, gpus=nvidia.strip().splitlines(), quick=quick,
                 cpu_test_mode=not gpu, carried_mib=round(folder_mib(carry), 2),
                 wall_limit_s=WALL_LIMIT_S, setup=[], steps=[])
  write_summary(out, summary)
  if gpu:
    summary["setup"], site = install(python, carry)
  else:
    site = None
    summary["setup"] = [dict(step="install", skipped=f"{ALLOW_CPU_ENV}=1 on a CPU: nothing "
                             "installed (the interpreter's packages are used as they are)")]
  env = step_env(carry, site)
  summary["data_dir"] = env.get("CFJAX_DATA_DIR")
  write_summary(out, summary)
  print(f"accelerator_check: {backend['backend']} {backend['devices']} jax {backend['jax']}; "
        f"setup {time.perf_counter() - wall_start:.0f} s", flush=True)
  for step in plan(python, out, quick=quick, torch_device="cuda" if gpu else "cpu"):
    left = WALL_LIMIT_S - (time.perf_counter() - wall_start)
    if left < 15:
      record = dict(step=step.name, status="skipped", why=f"{left:.0f} s of the run left",
                    command=" ".join(step.argv))
    else:
      record = run_step(step, limit_s=min(step.limit_s, left - 5), env=env, logs=out / "logs")
    summary["steps"].append(record)
    summary["wall_seconds"] = round(time.perf_counter() - wall_start, 1)
    write_summary(out, summary)
    print(f"accelerator_check: [{step.name}] {record['status']}"
          + (f" in {record['seconds']} s (limit {record['limit_s']} s)"
             if "seconds" in record else f": {record['why']}"), flush=True)
    if record["status"] != "ok" and "log" in record:
      print(_tail(record["log"]), flush=True)
  statuses = [s["status"] for s in summary["steps"]]
  print(f"accelerator_check: {statuses.count('ok')}/{len(statuses)} steps ok in "
        f"{summary['wall_seconds']} s; wrote {out / 'accelerator_check.json'}")
  return 0 if all(s == "ok" for s in statuses) else 1


def measure_chunk_scaling(output: pathlib.Path, *, quick: bool) -> dict:
  """The engine's seconds and device memory per chunk as the chunk grows (MF, ML-100K).

  One chunk of M models per measurement (chunk_size = M, M random deletions of 3 rows), best
  of 2 timed runs after a warm-up; device memory from `memory_stats()` after each M (peak is
  the allocator's running maximum). Stops at the first error (e.g. out of memory) and
  writes the JSON after every M."""
  import jax  # pylint: disable=g-import-not-at-top
  from benchmarks import retrains_per_sec as bench  # pylint: disable=g-import-not-at-top
  steps = 3 if quick else 50
  (workload,) = bench.load_workloads(["mf-ml100k"], mf_steps=steps, ncf_steps=1,
                                     data_dir=os.environ.get("CFJAX_DATA_DIR"))
  device = jax.devices()[0]
  payload = dict(benchmark="chunk_scaling", workload=workload.name, steps=steps,
                 device=str(device), backend=jax.default_backend(), rows=[],
                 stops_scaling_at=None)
  for num_models in ((2, 4) if quick else CHUNK_MODELS):
    deletions = bench.random_deletions(workload.num_rows, num_models)
    try:
      record, _ = bench.time_engine(workload, deletions, chunk_size=num_models, repeats=2)
    except Exception as error:  # out of memory is the expected end: record it and stop
      payload["error"] = dict(M=num_models, error=f"{error.__class__.__name__}: "
                              f"{str(error).splitlines()[0][:300]}")
      break
    stats = device.memory_stats() or {}
    payload["rows"].append(dict(
        M=num_models, seconds_per_chunk=record["seconds"],
        warmup_seconds=record["warmup_seconds"], retrains_per_s=record["retrains_per_s"],
        model_steps_per_s=record["model_steps_per_s"],
        bytes_in_use=stats.get("bytes_in_use"), peak_bytes_in_use=stats.get("peak_bytes_in_use"),
        bytes_limit=stats.get("bytes_limit")))
    payload["stops_scaling_at"] = stops_scaling_at(payload["rows"])
    bench.write_json(payload, output)
    print(f"M={num_models:<5} {record['seconds']:.3f} s/chunk "
          f"{record['model_steps_per_s']:,.0f} model-steps/s "
          f"peak {(stats.get('peak_bytes_in_use') or 0) / 2**20:,.0f} MiB", flush=True)
  bench.write_json(payload, output)
  return payload


def stops_scaling_at(rows: Sequence[dict], gain: float = 1.1) -> int | None:
  """The first M whose model-steps/s is under `gain` x the previous M's (None: still
  scaling). rows: [{"M", "model_steps_per_s"}] in increasing M."""
  for previous, row in zip(rows, rows[1:]):
    if row["model_steps_per_s"] < gain * previous["model_steps_per_s"]:
      return row["M"]
  return None


def measure_rcf_step(output: pathlib.Path, *, quick: bool) -> dict:
  """Seconds per RCF training step: one jitted `fit` of S minibatch steps (batches of 512 of
  ACCENT's 48,590 triples), compiled by a first call; per step = best timed call / S (one
  dispatch per S steps), timed up to 3 times within a budget. The JSON is written after the
  first call too (its time, compile included, bounds a step from above), so a kill keeps it.
  On the 2-core CPU here a step took ~5 s, hence S = 1 with --quick."""
  import functools  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from benchmarks import retrains_per_sec as bench  # pylint: disable=g-import-not-at-top
  from cfjax.data import load  # pylint: disable=g-import-not-at-top
  from cfjax.models import make_model  # pylint: disable=g-import-not-at-top
  from cfjax.train import fit, init_state, seed_keys  # pylint: disable=g-import-not-at-top
  from cfjax.train.fit import to_train_data  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  triples = load("accent-rcf", data_dir=os.environ.get("CFJAX_DATA_DIR"))
  model = make_model("rcf", triples)
  data = to_train_data(triples)
  init_key, order_key = seed_keys(0)
  state = jax.block_until_ready(init_state(model, init_key))
  weights = jnp.ones((data.num_rows,), jnp.float32)
  steps, budget = (1, 5.0) if quick else (10, 20.0)
  payload = dict(benchmark="rcf_step", backend=jax.default_backend(),
                 device=str(jax.devices()[0]), num_rows=int(data.num_rows),
                 batch_size=RCF_BATCH, steps=steps, hparams=model.hparams,
                 setup_seconds=time.perf_counter() - start, seconds_per_step=None)

  @functools.partial(jax.jit, static_argnums=0)
  def train(steps, data, weights, state, order_key):
    return fit(model, data, weights, state=state, order_key=order_key, steps=steps,
               batch_size=RCF_BATCH).params

  def call() -> float:
    start = time.perf_counter()
    jax.block_until_ready(train(steps, data, weights, state, order_key))
    return time.perf_counter() - start

  payload["first_call_seconds"] = call()
  bench.write_json(payload, output)
  runs = []
  while len(runs) < 3 and (not runs or sum(runs) < budget):
    runs.append(call())
  payload.update(runs=runs, seconds_per_step=min(runs) / steps)
  bench.write_json(payload, output)
  print(f"RCF: {payload['seconds_per_step'] * 1e3:.3f} ms per step (batch {RCF_BATCH}, "
        f"{data.num_rows:,} triples; first call {payload['first_call_seconds']:.1f} s)")
  return payload


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      prog="accelerator_check", description=__doc__.split("\n\n")[0],
      epilog="See the module docstring of benchmarks/accelerator_check.py and docs/engine.md.")
  parser.add_argument("--prepare", action="store_true",
                      help=f"fill {CARRY_DIR}/ (wheels, datasets) for the GPU machine")
  parser.add_argument("--dry_run", "--dry-run", action="store_true",
                      help="print the plan and the carried folder's size; do nothing else")
  parser.add_argument("--quick", action="store_true",
                      help="tiny settings and short limits (checking the commands on a CPU)")
  parser.add_argument("--carry_dir", default=str(REPO / CARRY_DIR),
                      help="the carried folder (default: <repo>/.accel)")
  parser.add_argument("--data_from", default=None,
                      help="--prepare: data root (default: $CFJAX_DATA_DIR, else ../shared/data)")
  parser.add_argument("--wheels_from", default=None,
                      help="--prepare: copy the wheels from this folder instead of pip download")
  parser.add_argument("--out", default=None,
                      help="output folder (default: $OUT, else results/accelerator_check)")
  parser.add_argument("--measure", choices=("chunk_scaling", "rcf_step"), default=None,
                      help=argparse.SUPPRESS)
  parser.add_argument("--output", default=None, help=argparse.SUPPRESS)
  return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
  try:
    args = parse_args(argv)
  except SystemExit as error:  # --help (0), or argparse's one-line usage error
    return 0 if error.code in (0, None) else 64
  python = os.environ.get("PYTHON") or "python3"
  carry = pathlib.Path(args.carry_dir).resolve()
  out = pathlib.Path(args.out or os.environ.get("OUT") or REPO / "results" / "accelerator_check")
  if args.measure:
    if not args.output:
      print("accelerator_check: --measure needs --output=<json path>", file=sys.stderr)
      return 64
    measure = measure_chunk_scaling if args.measure == "chunk_scaling" else measure_rcf_step
    measure(pathlib.Path(args.output), quick=args.quick)
    return 0
  if args.prepare:
    source = data_source(args.data_from)
    try:
      manifest = prepare(carry, data_from=source, python=sys.executable,
                         wheels_from=pathlib.Path(args.wheels_from) if args.wheels_from else None)
    except ValueError as error:
      print(f"accelerator_check: --prepare: {error}", file=sys.stderr)
      return 1
    print(f"accelerator_check: prepared {carry}: wheels {sorted(manifest['wheels'])}, "
          f"datasets {manifest['datasets']} (MiB, from {source})")
    print(f"carried folder {carry}: {manifest['size_mib']:.1f} MiB "
          f"(limit {CARRY_LIMIT_MIB} MiB); device tool: carry=[\"{CARRY_DIR}\"]")
    if not args.dry_run:
      return 0
  if args.dry_run:
    print(describe_plan(plan(python, out, quick=args.quick), python, carry, out))
    print("accelerator_check: --dry_run, nothing run")
    return 0
  return run_all(python, carry, out, quick=args.quick,
                 allow_cpu=os.environ.get(ALLOW_CPU_ENV) == "1")


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
