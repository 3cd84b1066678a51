"""The wheel installs into a clean virtual environment and its commands work there: `cfjax
explain --help` and a runner's `--help`, run outside the clone with the installed package (not
the clone's editable one), and the wheel carries py.typed and the LICENSE.

The build fetches setuptools through pip's build isolation (the package index must be
reachable, as in CI); the new environment sees the test environment's dependencies through a
.pth file, so nothing else is downloaded."""

import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SKIP = shutil.ignore_patterns(".git", ".venv", "results", "build", "dist", "*.egg-info",
                              "__pycache__", ".accel", ".pytest_cache", "site")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
  """(the wheel, the new venv's python): the wheel built from a copy of the source (a build
  in the clone would leave build/ there) and installed with --no-deps."""
  tmp = tmp_path_factory.mktemp("wheel")
  source = tmp / "source"
  shutil.copytree(ROOT, source, ignore=SKIP)
  run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"),
       str(source)], cwd=tmp)
  (wheel,) = (tmp / "dist").glob("cfjax-*.whl")
  venv = tmp / "venv"
  run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp)
  python = venv / "bin" / "python"
  purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                cwd=tmp).stdout.strip()
  # The dependencies, from this environment: its site-packages is added as a plain path, so
  # the .pth files inside it (the clone's editable cfjax among them) are not processed.
  pathlib.Path(purelib, "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
  run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
       str(wheel)], cwd=tmp)
  return wheel, python


def run(command: list[str], cwd: pathlib.Path, ok: tuple[int, ...] = (0,)
        ) -> subprocess.CompletedProcess:
  """Runs `command` without the clone on PYTHONPATH; its exit status must be in `ok`."""
  env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
  done = subprocess.run(command, cwd=cwd, env={**env, "JAX_PLATFORMS": "cpu"},
                        capture_output=True, text=True, timeout=300)
  assert done.returncode in ok, f"{command}: {done.stderr[-2000:]}"
  return done


def test_the_wheel_carries_py_typed_the_license_and_the_runners(installed):
  wheel, _ = installed
  names = zipfile.ZipFile(wheel).namelist()
  assert "cfjax/py.typed" in names
  assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names), names
  assert {"cfjax/experiments/cli.py", "cfjax/experiments/table3.py",
          "cfjax/experiments/configs/table3.py"} <= set(names)
  assert not any(name.startswith(("experiments/", "tests/")) for name in names)


def test_the_installed_package_is_the_wheels(installed, tmp_path):
  _, python = installed
  where = run([str(python), "-c", "import importlib.util; "
                "print(importlib.util.find_spec('cfjax').origin)"], cwd=tmp_path)
  assert pathlib.Path(where.stdout.strip()).is_relative_to(python.parent.parent)


def test_the_installed_commands_answer_help_outside_the_clone(installed, tmp_path):
  _, python = installed
  cfjax = python.parent / "cfjax"
  explain = run([str(cfjax), "explain", "--help"], cwd=tmp_path).stdout
  assert "--dataset" in explain and "--methods" in explain
  assert "movielens-100k" in explain and "knn" in explain  # the registered choices
  # absl's --help exits with status 1
  table3 = run([str(cfjax), "table3", "--help"], cwd=tmp_path, ok=(0, 1)).stdout
  assert "--preset" in table3 and "--config" in table3 and "Yao et al.'s Table 3" in table3
  assert "cfjax/experiments/configs/table3.py" in table3 and str(ROOT) not in table3
