"""Many processes (hosts, or one process per GPU) retraining one plan with `jax.distributed`.

Every process runs the same program on the same inputs (SPMD). `retrain` pads its M models to
whole global chunks of C models (C a multiple of the GLOBAL device count D) and cuts the padded
list into P contiguous, equal shares; process p retrains share p in compiled chunks of C / P
models sharded over its D / P local devices, so every device runs the same [C / D]-model
program as a single process with D devices would, and the results are bitwise equal to it.
The shares are gathered once, at the end of the call (`gather_shares`: one all-gather of the
readouts), so every process returns the whole `RetrainResult` in the original order.

Why an all-gather of the readouts and not a global mesh or files: the models of a chunk are
independent, so the chunk program needs no communication at all, and a process-local chunk
keeps running whatever the other processes do until the one gather; files would need a shared
filesystem and a naming protocol for every call. On CPU the gather goes through gloo (the
default `jax_cpu_collectives_implementation` of jax 0.10), on GPUs through NCCL.

Writes: only process 0 writes shared files (results, the simulation store's shards and
manifest); decisions that depend on files (what is finished) are made by process 0 and
broadcast (`broadcast_json`), so the processes never disagree on the work schedule.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from typing import Any, Callable

import jax
import numpy as np
from jax.experimental import multihost_utils

from cfjax.util import check_int, to_json

# Environment variables that give the number of tasks of a cluster job step; with more than
# one, `initialize()` lets jax.distributed detect the coordinator, count and rank itself.
CLUSTER_TASK_VARIABLES = ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE")


def cluster_task_count() -> int:
  """The number of tasks of the cluster job step this process belongs to (SLURM, Open MPI),
  or 1 outside one."""
  for name in CLUSTER_TASK_VARIABLES:
    value = os.environ.get(name, "")
    if value.isdigit():
      return int(value)
  return 1


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, **options) -> bool:
  """Joins this process to a multi-process run (call it before any JAX computation).

  With all three arguments None, a process started as one of several tasks by SLURM (or Open
  MPI) joins through `jax.distributed.initialize()`'s own cluster detection (coordinator =
  the first node of the step, one process per task and, on GPUs, one GPU per task); any other
  process stays a single-process run and nothing happens. A run of one process is
  unchanged.

  Args:
    coordinator_address: "host:port" of process 0's coordinator service.
    num_processes: P, the number of processes.
    process_id: this process's index in [0, P).
    **options: passed to `jax.distributed.initialize` (e.g. `heartbeat_timeout_seconds`,
      `local_device_ids`).

  Returns:
    Whether this run has more than one process.

  Raises:
    ValueError: a partial or impossible setting, a call after JAX has computed, or processes
      with different numbers of devices.
  """
  if jax.distributed.is_initialized():
    return jax.process_count() > 1
  given = [value is not None for value in (coordinator_address, num_processes, process_id)]
  if not any(given) and cluster_task_count() <= 1:
    return False
  if any(given) and not all(given) and cluster_task_count() <= 1:
    raise ValueError("pass --coordinator_address, --num_processes and --process_id together "
                     "(or start the processes as tasks of one SLURM step, which supplies them)")
  if num_processes is not None:
    check_int(num_processes, "num_processes", minimum=1)
  if process_id is not None:
    check_int(process_id, "process_id", minimum=0)
    if num_processes is not None and process_id >= num_processes:
      raise ValueError(f"process_id={process_id} must be < num_processes={num_processes}; "
                       "number the processes 0 .. num_processes - 1")
  try:
    jax.distributed.initialize(coordinator_address=coordinator_address,
                               num_processes=num_processes, process_id=process_id, **options)
  except RuntimeError as error:
    first = (str(error).strip().splitlines() or [repr(error)])[0]
    raise ValueError(f"jax.distributed could not start ({first}); initialise before any JAX "
                     "computation, with a reachable coordinator_address") from None
  if jax.device_count() != jax.local_device_count() * jax.process_count():
    raise ValueError(f"the {jax.process_count()} processes have different numbers of devices "
                     f"({jax.device_count()} in all, {jax.local_device_count()} here); give "
                     "every process the same number")
  return jax.process_count() > 1


def is_multiprocess() -> bool:
  """Whether jax.distributed joined this process to a run of several (never starts JAX's
  backends, so it is safe to call before `initialize`)."""
  return jax.distributed.is_initialized() and jax.process_count() > 1


def process_count() -> int:
  """P, the number of processes of this run (1 without jax.distributed)."""
  return jax.process_count()


def process_index() -> int:
  """This process's index in [0, P)."""
  return jax.process_index()


def is_primary() -> bool:
  """Whether this is process 0, the one that writes shared files."""
  return process_index() == 0


@dataclasses.dataclass(frozen=True)
class ChunkPlan:
  """How `retrain` cuts M models into compiled chunks on this process.

  Attributes:
    chunk: models per compiled call on this process (the global chunk / P).
    padded: models after padding (a whole number of global chunks).
    start, stop: this process's contiguous share [start, stop) of the padded models.
    num_processes: P; with P > 1 the shares are gathered (`gather_shares`).
  """

  chunk: int
  padded: int
  start: int
  stop: int
  num_processes: int = 1

  @property
  def num_chunks(self) -> int:
    """Compiled calls on this process."""
    return (self.stop - self.start) // self.chunk


def plan_chunks(total: int, chunk_size: int, *, num_devices: int, num_processes: int = 1,
                process_index: int = 0) -> ChunkPlan:
  """The chunks of `total` models: global chunk C = min(chunk_size, total) rounded up to a
  multiple of `num_devices` (D, all processes' devices), padded to whole global chunks, split
  into `num_processes` contiguous shares run in chunks of C / P.

  Args:
    total: M, the models to retrain (>= 1).
    chunk_size: the requested models per compiled call.
    num_devices: D, the devices of all processes (a multiple of P).
    num_processes: P.
    process_index: this process.

  Returns:
    The `ChunkPlan` of process `process_index` (with P = 1: the whole padded list).
  """
  if num_devices % num_processes:
    raise ValueError(f"{num_devices} devices do not split evenly over {num_processes} "
                     "processes; give every process the same number of devices")
  global_chunk = math.ceil(max(1, min(chunk_size, total)) / num_devices) * num_devices
  padded = math.ceil(total / global_chunk) * global_chunk
  share = padded // num_processes
  return ChunkPlan(chunk=global_chunk // num_processes, padded=padded,
                   start=process_index * share, stop=(process_index + 1) * share,
                   num_processes=num_processes)


def chunk_plan(total: int, chunk_size: int) -> ChunkPlan:
  """`plan_chunks` for this run's devices and processes."""
  return plan_chunks(total, chunk_size, num_devices=jax.device_count(),
                     num_processes=process_count(), process_index=process_index())


def gather_shares(outputs: Any, plan: ChunkPlan) -> Any:
  """Every process's share of the readouts, concatenated in process order (the original
  order of the padded models): one all-gather, bitwise (no arithmetic). Leaves are [share,
  ...] numpy arrays, the same shapes on every process."""
  if plan.num_processes == 1:
    return outputs
  return jax.tree.map(np.asarray, multihost_utils.process_allgather(outputs, tiled=True))


def check_same_everywhere(what: str, *values: Any) -> None:
  """Raises a one-line ValueError unless every process passes equal `values` (compared by a
  SHA-256 of their bytes): processes that diverged would retrain different plans and gather
  mismatched shares.

  Args:
    what: names the values in the error.
    *values: pytrees of arrays and JSON-able leaves.
  """
  if process_count() == 1:
    return
  digest = hashlib.sha256()
  for leaf in jax.tree.leaves(values):
    array = np.asarray(leaf)
    digest.update(f"{array.dtype}{array.shape}".encode())
    digest.update(np.ascontiguousarray(array).tobytes())
  mine = np.frombuffer(digest.digest(), dtype=np.uint8)
  everyone = np.asarray(multihost_utils.process_allgather(mine))
  if not (everyone == everyone[0]).all():
    differing = [p for p in range(len(everyone)) if not np.array_equal(everyone[p],
                                                                        everyone[0])]
    raise ValueError(f"processes {differing} hold other {what} than process 0; run every "
                     "process with the same settings, data, code and hardware")


def gather_values(value: float) -> list[float]:
  """Every process's `value`, in process order (one all-gather; [value] with one process)."""
  if process_count() == 1:
    return [float(value)]
  return [float(v) for v in np.asarray(multihost_utils.process_allgather(np.float64(value)))]


def barrier(name: str) -> None:
  """Waits until every process reaches the barrier `name` (no-op with one process)."""
  if process_count() > 1:
    multihost_utils.sync_global_devices(name)


def on_primary(compute: Callable[[], Any]) -> Any:
  """Process 0's `compute()` on every process: a decision that reads files (what is
  finished) is made once, so the processes never disagree on the work. A ValueError that
  `compute` raises on process 0 is raised on every process (all stop on the same one line).

  Args:
    compute: () -> a JSON-able value; only process 0 calls it.

  Returns:
    Its value (with several processes as read back from JSON: tuples become lists).
  """
  if process_count() == 1:
    return compute()
  outcome = None
  if is_primary():
    try:
      outcome = {"value": compute()}
    except ValueError as error:
      outcome = {"error": str(error)}
  outcome = broadcast_json(outcome)
  if "error" in outcome:
    raise ValueError(outcome["error"])
  return outcome["value"]


def broadcast_json(value: Any) -> Any:
  """Process 0's `value` (any JSON-able value) on every process, as read back from JSON."""
  if process_count() == 1:
    return json.loads(to_json(value))
  payload = np.frombuffer(to_json(value).encode(), dtype=np.uint8) if is_primary() else \
      np.zeros(0, np.uint8)
  length = int(multihost_utils.broadcast_one_to_all(np.int64(len(payload))))
  padded = np.zeros(length, np.uint8)
  padded[:len(payload)] = payload
  received = np.asarray(multihost_utils.broadcast_one_to_all(padded))
  return json.loads(received.tobytes().decode())
