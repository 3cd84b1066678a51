"""benchmarks/accelerator_check.sh: prints its plan and refuses clearly without a GPU."""

import os
import pathlib
import subprocess

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "accelerator_check.sh"


def _run(*args, **env):
  return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                        timeout=60, env={**os.environ, **env})


def test_refuses_without_a_gpu_after_printing_the_plan(tmp_path):
  # a stand-in nvidia-smi that finds no device, as on a CPU machine with the tools installed
  fake = tmp_path / "nvidia-smi"
  fake.write_text("#!/bin/sh\necho 'No devices were found'\nexit 6\n")
  fake.chmod(0o755)
  for nvidia_smi in (str(fake), str(tmp_path / "missing-nvidia-smi")):
    result = _run(NVIDIA_SMI=nvidia_smi, PYTHON=str(tmp_path / "no-python-needed"))
    assert result.returncode == 2, result
    assert "refusing: no NVIDIA GPU found" in result.stderr
    assert "pip install \"jax[cuda12]" in result.stdout  # the plan came first
    assert "benchmarks.retrains_per_sec" in result.stdout
    assert "experiments.retrain_verify --preset=default" in result.stdout
  assert not (tmp_path / "accelerator_check.json").exists()


def test_dry_run_and_bad_arguments():
  result = _run("--dry_run", "--quick", NVIDIA_SMI="/nonexistent/nvidia-smi")
  assert result.returncode == 0 and "--dry_run, nothing done" in result.stdout
  assert "--preset=smoke" in result.stdout
  bad = _run("--bogus")
  assert bad.returncode == 64 and "unknown argument '--bogus'" in bad.stderr


def test_a_gpu_listing_passes_the_check(tmp_path):
  # with a GPU listed, the script goes past the refusal and calls $PYTHON (here a stub that
  # fails at once, so nothing is installed): the detection accepts nvidia-smi's format
  fake = tmp_path / "nvidia-smi"
  fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-1234)'\n")
  fake.chmod(0o755)
  stub = tmp_path / "python"
  stub.write_text("#!/bin/sh\necho stub-python \"$@\" >&2\nexit 9\n")
  stub.chmod(0o755)
  result = _run(NVIDIA_SMI=str(fake), PYTHON=str(stub))
  assert "found" in result.stdout and "GPU 0: NVIDIA A100" in result.stdout
  assert "refusing" not in result.stderr
  assert result.returncode == 9  # the stub's failure on the first call (reading jax's version)
