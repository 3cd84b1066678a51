"""Many processes with jax.distributed: the chunk split, bitwise equality with one process of
as many devices, process-safe results and simulation store, and resuming a killed process.

The multi-process tests start real processes on localhost (2 processes x 2 CPU devices, gloo
collectives); this module is also their worker: `python -m tests.train.test_distributed
<process_id> <num_processes> <port> <workdir> <kill_after_block>`.
"""

import contextlib
import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from cfjax.train import distributed
from cfjax.train.distributed import plan_chunks

ROOT = pathlib.Path(__file__).resolve().parents[2]
KILLED = 17  # exit status of a worker killed by its after_block hook


# ------------------------------------------------------------------------- the chunk split


@pytest.mark.parametrize("total, chunk_size, devices, processes",
                         [(7, 4, 4, 2), (5, 4, 4, 2), (1, 64, 4, 2), (130, 64, 8, 4),
                          (3, 1, 2, 2), (100, 16, 2, 1)])
def test_shares_are_contiguous_equal_and_keep_each_devices_program(total, chunk_size, devices,
                                                                   processes):
  alone = plan_chunks(total, chunk_size, num_devices=devices)  # one process, all devices
  plans = [plan_chunks(total, chunk_size, num_devices=devices, num_processes=processes,
                       process_index=p) for p in range(processes)]
  # one process: chunk = min(C, M) rounded up to the devices, padded to whole chunks
  assert alone.chunk % devices == 0 and alone.chunk >= min(chunk_size, total)
  assert alone.padded % alone.chunk == 0 and alone.padded - alone.chunk < total <= alone.padded
  assert (alone.start, alone.stop) == (0, alone.padded)
  # P processes: the same padded list, cut into P contiguous equal shares of whole chunks
  assert [(p.start, p.stop) for p in plans] == [
      (i * alone.padded // processes, (i + 1) * alone.padded // processes)
      for i in range(processes)]
  for plan in plans:
    assert plan.padded == alone.padded and plan.chunk * processes == alone.chunk
    assert (plan.stop - plan.start) % plan.chunk == 0
    # each device runs the same number of models per compiled call as on one process
    assert plan.chunk // (devices // processes) == alone.chunk // devices


def test_uneven_devices_are_refused_in_one_line():
  with pytest.raises(ValueError, match="do not split evenly") as error:
    plan_chunks(10, 4, num_devices=3, num_processes=2)
  assert "\n" not in str(error.value)


def test_initialize_outside_a_cluster_without_settings_does_nothing(monkeypatch):
  for name in distributed.CLUSTER_TASK_VARIABLES:
    monkeypatch.delenv(name, raising=False)
  assert distributed.initialize() is False
  assert not distributed.is_multiprocess()


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_processes=2), "together"),
    (dict(coordinator_address="localhost:1", num_processes=2, process_id=2), "must be < "),
    (dict(coordinator_address="localhost:1", num_processes=0, process_id=0), ">= 1"),
])
def test_initialize_refuses_partial_or_impossible_settings(monkeypatch, kwargs, message):
  for name in distributed.CLUSTER_TASK_VARIABLES:
    monkeypatch.delenv(name, raising=False)
  with pytest.raises(ValueError, match=message) as error:
    distributed.initialize(**kwargs)
  assert "\n" not in str(error.value)


def test_runner_refuses_a_partial_multiprocess_setting_in_one_line(tmp_path):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  for name in distributed.CLUSTER_TASK_VARIABLES:
    env.pop(name, None)
  completed = subprocess.run(
      [sys.executable, "-m", "experiments.retrain_verify", "--preset=smoke",
       "--num_processes=2", f"--output_dir={tmp_path / 'out'}"],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert completed.returncode == 1
  assert completed.stderr.strip().splitlines() == [
      "retrain_verify: error: pass --coordinator_address, --num_processes and --process_id "
      "together (or start the processes as tasks of one SLURM step, which supplies them) "
      "(--verbose for a traceback)"]
  assert not (tmp_path / "out").exists()


def test_processes_of_one_run_hold_their_own_locks(tmp_path, monkeypatch):
  from cfjax.evaluate.results import DirectoryBusyError, ResultsDir
  with ResultsDir(tmp_path).locked():
    monkeypatch.setattr(distributed, "process_index", lambda: 1)
    with ResultsDir(tmp_path).locked():  # process 1 of the same run: its own lock file
      assert sorted(p.name for p in tmp_path.iterdir()) == [".cfjax-lock",
                                                            ".cfjax-lock.process1"]
      with pytest.raises(DirectoryBusyError):  # another run's process 1
        with ResultsDir(tmp_path).locked():
          pass


def test_results_record_the_peak_memory(tmp_path):
  from cfjax.evaluate.results import ResultsDir
  ResultsDir(tmp_path).write(config={"metrics": {"users": 3}}, records=[], rows=[{"a": 1}],
                             table={"x": 1}, markdown="x\n")
  metrics = json.loads((tmp_path / "config.json").read_text())["metrics"]
  assert metrics["users"] == 3
  assert 10 < metrics["peak_rss_mib"] < 64 * 1024 and metrics["peak_rss_children_mib"] >= 0


# -------------------------------------------------------------- real processes on localhost


def _free_port() -> int:
  with contextlib.closing(socket.socket()) as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _start(process_id: int, num_processes: int, devices: int, port: int,
           workdir: pathlib.Path, kill_after_block: int = -1) -> subprocess.Popen:
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
  return subprocess.Popen(
      [sys.executable, "-m", "tests.train.test_distributed", str(process_id),
       str(num_processes), str(port), str(workdir), str(kill_after_block)],
      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen, expected: int = 0) -> None:
  out, err = process.communicate(timeout=600)
  assert process.returncode == expected, f"worker exited {process.returncode}:\n{err[-3000:]}"


def _run(num_processes: int, devices: int, workdir: pathlib.Path) -> None:
  port = _free_port()
  processes = [_start(p, num_processes, devices, port, workdir) for p in range(num_processes)]
  for process in processes:
    _finish(process)


def _outputs(path: pathlib.Path) -> dict:
  with np.load(path) as saved:
    return {name: saved[name] for name in saved.files}


@pytest.fixture(scope="module")
def one_process_four_devices(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("one_by_four")
  _run(1, 4, workdir)
  return _outputs(workdir / "process0.npz")


def _assert_bitwise(outputs: dict, reference: dict) -> None:
  compared = [name for name in reference if name not in ("computed", "sim_seconds")]
  assert len(compared) > 20
  for name in compared:
    np.testing.assert_array_equal(outputs[name], reference[name], err_msg=name)
    assert outputs[name].dtype == reference[name].dtype


@pytest.mark.slow
def test_two_processes_equal_one_process_with_as_many_devices(one_process_four_devices,
                                                              tmp_path):
  _run(2, 2, tmp_path)
  for p in (0, 1):  # every process holds the whole result, bitwise the one-process one
    _assert_bitwise(_outputs(tmp_path / f"process{p}.npz"), one_process_four_devices)
  # process 0 alone wrote the shared files
  config = json.loads((tmp_path / "results" / "config.json").read_text())
  assert config["written_by"] == 0
  assert len(config["metrics"]["peak_rss_mib_per_process"]) == 2
  assert json.loads((tmp_path / "results" / "work" / "config.json").read_text())[
      "written_by"] == 0
  assert sorted(p.name for p in (tmp_path / "store").iterdir()) == [
      "block_00000.npz", "block_00001.npz", "block_00002.npz", "manifest.json"]


@pytest.mark.slow
def test_a_killed_process_resumes_its_share(one_process_four_devices, tmp_path):
  port = _free_port()
  survivor = _start(0, 2, 2, port, tmp_path)
  killed = _start(1, 2, 2, port, tmp_path, kill_after_block=0)
  _finish(killed, expected=KILLED)  # process 1 dies after the first block ...
  time.sleep(1)
  survivor.kill()  # ... and its job with it (process 0 waits in the next block's gather)
  survivor.communicate(timeout=60)
  manifest = json.loads((tmp_path / "store" / "manifest.json").read_text())
  assert sorted(manifest["blocks"]) == ["0"]

  _run(2, 2, tmp_path)  # the job restarted: each process resumes its share of blocks 1, 2
  for p in (0, 1):
    outputs = _outputs(tmp_path / f"process{p}.npz")
    np.testing.assert_array_equal(outputs["computed"], [1, 2])
    _assert_bitwise(outputs, one_process_four_devices)


def _worker(process_id: int, num_processes: int, port: int, workdir: pathlib.Path,
            kill_after_block: int) -> None:
  """One process of the tests above: retrains in three settings, simulates into a store and
  writes a results directory, then saves what it got as process<id>.npz."""
  if num_processes > 1:
    distributed.initialize(f"localhost:{port}", num_processes, process_id)
  import jax.numpy as jnp

  from cfjax.data.interactions import Interactions
  from cfjax.evaluate.results import ResultsDir
  from cfjax.models import make_mf
  from cfjax.simulate import generate as sim
  from cfjax.train import (RetrainProtocol, TrainData, retrain, state_readout, train_original,
                           train_original_exact)
  from tests.conftest import TINY_ITEMS, TINY_USERS, tiny_rows

  user, item, rating = tiny_rows()
  data = TrainData(jnp.asarray(user), jnp.asarray(item), jnp.asarray(rating))
  model = make_mf(TINY_USERS, TINY_ITEMS, dim=4, learning_rate=0.05)
  rows = np.array([[-1], [3], [4], [7], [9], [11], [2]])
  saved = {}

  def keep(prefix, tree):
    saved.update({f"{prefix}_{name}": np.asarray(leaf) for name, leaf in tree.items()})

  keep("full", retrain(model, data, rows, RetrainProtocol(steps=10, seeds=[0, 1], chunk_size=4),
                       progress=False).outputs)
  minibatch = retrain(model, data, rows,
                      RetrainProtocol(steps=10, batch_size=30, seeds=[0], chunk_size=8),
                      control=True, progress=False)
  keep("minibatch", minibatch.outputs)
  keep("control", minibatch.control)
  original = train_original_exact(model, data, RetrainProtocol(steps=5, seeds=(0,), chunk_size=4))
  keep("warm", retrain(model, data, rows,
                       RetrainProtocol(steps=5, seeds=[0], kind="warm", chunk_size=4),
                       original=original, readout=state_readout, progress=False).outputs.params)

  train = Interactions(user, item, rating, TINY_USERS, TINY_ITEMS)
  params = train_original(model, data, RetrainProtocol(steps=5, seeds=(0,))).params
  config = sim.SimulationConfig(subsets_per_user=2, top_n=4, steps=5, block_size=2, seed=1)
  computed = []

  def after_block(block):
    computed.append(block)
    if block == kill_after_block:
      os._exit(KILLED)

  simulated = sim.simulate(model, train, params, [0, 3, 5], config, str(workdir / "store"),
                           progress=False, after_block=after_block)
  saved.update({f"sim_{name}": value for name, value in simulated.targets.items()},
               sim_users=simulated.users, sim_deleted=simulated.deleted_items,
               sim_top=simulated.top_items, sim_original_rank=simulated.original_rank,
               sim_counterfactual_rank=simulated.counterfactual_rank,
               computed=np.asarray(computed, dtype=np.int64))

  results = ResultsDir(workdir / "results")
  with results.locked():
    results.work_dir({"written_by": process_id})
    results.write(config={"written_by": process_id}, records=[], rows=[{"a": 1}],
                  table={"x": 1}, markdown="x\n")
  np.savez(workdir / f"process{process_id}.npz", **saved)


if __name__ == "__main__":
  _worker(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), pathlib.Path(sys.argv[4]),
          int(sys.argv[5]))
