"""benchmarks/accelerator_check.sh: --prepare, --dry_run, the refusal without a GPU, and the
step runner's limits and summary (no network, no benchmark runs, no installs)."""

import json
import os
import pathlib
import subprocess
import sys
import zipfile

import pytest

from benchmarks import accelerator_check as check

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "accelerator_check.sh"


def _run(*args, timeout=120, **env):
  environment = {**os.environ, "PYTHON": sys.executable, **env}
  environment.pop(check.ALLOW_CPU_ENV, None)
  return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                        timeout=timeout, env=environment)


def _wheel(folder: pathlib.Path, name="ml_collections-1.1.0-py3-none-any.whl") -> pathlib.Path:
  """A small pure-Python wheel: a zip with one module."""
  folder.mkdir(parents=True, exist_ok=True)
  path = folder / name
  with zipfile.ZipFile(path, "w") as archive:
    archive.writestr("ml_collections/__init__.py", "MARK = 'carried'\n")
  return path


@pytest.fixture()
def data_root(tmp_path):
  root = tmp_path / "data"
  for dataset in check.DATASETS:
    (root / dataset).mkdir(parents=True)
    (root / dataset / "rows.tsv").write_bytes(b"1\t2\t3\n" * 1000)
  (root / "ml-1m").mkdir()  # not needed there: stays behind
  (root / "ml-1m" / "big.dat").write_bytes(b"x" * 10_000)
  return root


def test_prepare_copies_the_data_and_the_wheel_and_prints_the_size(tmp_path, data_root):
  carry = tmp_path / "carry"
  wheel = _wheel(tmp_path / "cache")
  result = _run("--prepare", f"--carry_dir={carry}", f"--data_from={data_root}",
                f"--wheels_from={wheel.parent}")
  assert result.returncode == 0, result.stderr
  for dataset in check.DATASETS:
    assert (carry / "data" / dataset / "rows.tsv").read_bytes() == (
        data_root / dataset / "rows.tsv").read_bytes()
  assert not (carry / "data" / "ml-1m").exists()
  assert (carry / "wheels" / wheel.name).read_bytes() == wheel.read_bytes()
  manifest = json.loads((carry / "manifest.json").read_text())
  assert list(manifest["wheels"]) == [wheel.name]
  assert set(manifest["datasets"]) == set(check.DATASETS)
  assert 0 < manifest["size_mib"] < check.CARRY_LIMIT_MIB
  assert f"carried folder {carry}: {manifest['size_mib']:.1f} MiB (limit 64 MiB)" in result.stdout
  # a second prepare over the first is fine (the GPU run may be prepared again)
  assert _run("--prepare", f"--carry_dir={carry}", f"--data_from={data_root}",
              f"--wheels_from={carry / 'wheels'}").returncode == 0


def test_prepare_fails_in_one_line_without_data_or_wheel(tmp_path, data_root):
  carry = tmp_path / "carry"
  no_data = _run("--prepare", f"--carry_dir={carry}", f"--data_from={tmp_path / 'none'}",
                 f"--wheels_from={_wheel(tmp_path / 'cache').parent}")
  assert no_data.returncode == 1 and len(no_data.stderr.strip().splitlines()) == 1
  assert "dataset folders ['ml-100k', 'accent-ml100k'] not found" in no_data.stderr
  (tmp_path / "empty").mkdir()
  no_wheel = _run("--prepare", f"--carry_dir={carry}", f"--data_from={data_root}",
                  f"--wheels_from={tmp_path / 'empty'}")
  assert no_wheel.returncode == 1 and "no ml_collections wheel in --wheels_from" in (
      no_wheel.stderr)


def test_prepare_refuses_a_folder_that_would_not_travel(tmp_path, data_root, monkeypatch):
  monkeypatch.setattr(check, "CARRY_LIMIT_MIB", 0.001)
  with pytest.raises(ValueError, match="over the 0.001 MiB the device tool carries"):
    check.prepare(tmp_path / "carry", data_from=data_root,
                  wheels_from=_wheel(tmp_path / "cache").parent)


def test_dry_run_prints_every_step_its_limit_and_the_carried_size(tmp_path, data_root):
  carry, out = tmp_path / "carry", tmp_path / "out"
  bare = _run("--dry_run", f"--carry_dir={carry}", OUT=str(out))
  assert bare.returncode == 0 and "not prepared (0 MiB)" in bare.stdout
  check.prepare(carry, data_from=data_root, wheels_from=_wheel(tmp_path / "cache").parent)
  result = _run("--dry_run", f"--carry_dir={carry}", OUT=str(out), PYTHON="python3")
  assert result.returncode == 0, result.stderr
  text = result.stdout
  for number, step in enumerate(check.plan("python3", out), 1):
    assert f"{number}. [{step.name}] limit {step.limit_s} s" in text
    assert " ".join(step.argv) in text
  assert "--torch_device=cuda" in text and "--mf_models=16,64,256,1024" in text
  assert "--ncf_models=16,64,256,1024" in text
  assert "python3 -m experiments.retrain_verify --preset=default" in text
  assert "python3 -m experiments.benchmark --preset=smoke" in text
  assert "--measure=rcf_step" in text and "--measure=chunk_scaling" in text
  assert "must say 'gpu', else refuse" in text and "pip install --no-deps" in text
  assert f"carried folder {carry}: " in text and 'carry=[".accel"]' in text
  assert text.rstrip().endswith("--dry_run, nothing run")
  assert not out.exists()  # nothing run, nothing written


def test_the_plan_fits_the_window_most_valuable_first(tmp_path):
  steps = check.plan("python3", tmp_path)
  assert [s.name for s in steps][:3] == ["throughput_mf", "throughput_ncf", "chunk_scaling"]
  assert all(0 < s.limit_s < check.WALL_LIMIT_S for s in steps)
  assert check.WALL_LIMIT_S <= 8 * 60
  assert all(str(tmp_path) in " ".join(s.argv) for s in steps)  # everything under $OUT
  quick = check.plan("python3", tmp_path, quick=True, torch_device="cpu")
  assert [s.name for s in quick] == [s.name for s in steps]
  assert "--preset=smoke" in " ".join(quick[3].argv)


def test_refuses_in_one_line_without_a_gpu(tmp_path):
  out = tmp_path / "out"
  broken = tmp_path / "broken" / "jax"  # an interpreter without a working JAX
  broken.mkdir(parents=True)
  (broken / "__init__.py").write_text("raise ImportError('no jax here')\n")
  # this machine's JAX sees a CPU only; an interpreter without JAX is refused the same way
  for path, reason in (("", "jax.default_backend() is 'cpu', not 'gpu'"),
                       (str(broken.parent), "cannot import jax (ImportError: no jax here)")):
    result = _run(OUT=str(out), PYTHONPATH=path)
    assert result.returncode == check.REFUSAL_EXIT, result
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("accelerator_check: refusing: ") and reason in line
    assert "nothing was installed or run" in line
  assert not out.exists()


def test_bad_arguments_exit_64():
  bad = _run("--bogus")
  assert bad.returncode == 64 and "unrecognized arguments: --bogus" in bad.stderr


def test_a_step_past_its_limit_is_killed_and_the_summary_kept(tmp_path, monkeypatch):
  steps = [check.Step("fast", ("true",), 30, "nothing", ()),
           check.Step("slow", ("sleep", "30"), 1, "too slow", ()),
           check.Step("broken", ("false",), 30, "fails", ())]
  summaries = []
  monkeypatch.setattr(check, "plan", lambda *a, **k: steps)
  monkeypatch.setattr(check, "probe_backend", lambda python: (dict(
      backend="gpu", devices=["cuda:0"], jax="0.0", jaxlib="0.0"), ""))
  monkeypatch.setattr(check, "install", lambda python, carry: ([dict(step="stub")], None))
  real_write = check.write_summary
  monkeypatch.setattr(check, "write_summary", lambda out, summary: (
      summaries.append([s["status"] for s in summary["steps"]]), real_write(out, summary)))
  out = tmp_path / "out"
  assert check.run_all("python3", tmp_path / "carry", out, quick=False,
                       allow_cpu=False) == 1
  assert summaries[-3:] == [["ok"], ["ok", "timeout"], ["ok", "timeout", "failed"]]
  summary = json.loads((out / "accelerator_check.json").read_text())
  slow = summary["steps"][1]
  assert slow["status"] == "timeout" and slow["seconds"] < 10 and slow["limit_s"] == 1
  assert (out / "logs" / "slow.log").exists() and summary["setup"] == [dict(step="stub")]


def test_no_time_left_skips_the_remaining_steps(tmp_path, monkeypatch):
  monkeypatch.setattr(check, "WALL_LIMIT_S", 10)  # under the 15 s a step needs to start
  monkeypatch.setattr(check, "plan", lambda *a, **k: [check.Step("late", ("true",), 5, "", ())])
  monkeypatch.setattr(check, "probe_backend", lambda python: (dict(
      backend="cpu", devices=["cpu:0"], jax="0.0", jaxlib="0.0"), ""))
  assert check.run_all("python3", tmp_path, tmp_path / "out", quick=True, allow_cpu=True) == 1
  summary = json.loads((tmp_path / "out" / "accelerator_check.json").read_text())
  assert summary["cpu_test_mode"] and summary["steps"][0]["status"] == "skipped"
  assert "nothing installed" in summary["setup"][0]["skipped"]


def test_a_wheel_pip_refuses_is_unpacked_onto_the_path(tmp_path):
  carry = tmp_path / "carry"
  _wheel(carry / "wheels")
  stub = tmp_path / "python"  # an interpreter whose every call fails (no pip, no packages)
  stub.write_text("#!/bin/sh\nexit 1\n")
  stub.chmod(0o755)
  records, site = check.install(str(stub), carry)
  assert site == carry / "site"
  assert (site / "ml_collections" / "__init__.py").read_text() == "MARK = 'carried'\n"
  assert [r["step"] for r in records][:3] == ["install_wheels", "unpack_wheels",
                                              "install_project"]
  env = check.step_env(carry, site)
  assert env["PYTHONPATH"].split(os.pathsep)[:2] == [str(check.REPO), str(site)]
  marked = subprocess.run([sys.executable, "-c", "import ml_collections as m; print(m.MARK)"],
                          env=env, capture_output=True, text=True, cwd=tmp_path)
  assert marked.stdout.strip() == "carried"


def test_stops_scaling_at():
  rows = [dict(M=16, model_steps_per_s=100.0), dict(M=64, model_steps_per_s=390.0),
          dict(M=256, model_steps_per_s=420.0), dict(M=1024, model_steps_per_s=900.0)]
  assert check.stops_scaling_at(rows) == 256
  assert check.stops_scaling_at(rows[:2]) is None and check.stops_scaling_at([]) is None
