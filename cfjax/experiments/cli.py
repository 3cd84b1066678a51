"""What every runner shares: flags, config loading, one-line errors, where results went.

A runner is `cfjax/experiments/<table>.py`: it names its config (`configs/<table>.py` beside
it, whose `get_config(preset)` returns an `ml_collections.ConfigDict`) and the library pipeline
that runs it, and calls `cli.main(...)`. `cfjax <table> [flags]`, `python -m
cfjax.experiments.<table> [flags]` and, from a clone, `python -m experiments.<table> [flags]`
are the same command. On the command line:

  --preset=smoke|default|paper   which settings `get_config` returns
  --dataset --model --seed --data_dir --chunk_size (--datasets --models)
                                 shorthands for the config fields of those names
  --config.<field>=<value>       any other field (`--helpfull` lists the config flag)
  --output_dir                   default results/<table>/<dataset>-<model>-<preset>
  --verbose                      a traceback instead of a one-line error
  --allow_modified_data          load edited dataset files (their checksum differs) anyway
  --coordinator_address --num_processes --process_id
                                 run as one of several processes (hosts, or one per GPU):
                                 `cfjax.train.distributed.initialize`; under SLURM with
                                 several tasks they are detected

A user's mistake (a bad flag, a missing file, an impossible setting) ends in one line naming
it; only genuine bugs print a traceback. In a multi-process run every process runs the same
pipeline, process 0 writes and prints the table, and a process that fails leaves at once
(`os._exit`) so the others stop too instead of waiting for it.
"""

from __future__ import annotations

import importlib
import os
import pathlib
import sys
import traceback
from typing import Callable, NoReturn

from absl import app, flags, logging
import ml_collections
from ml_collections import config_flags

from cfjax.data import canonical_name
from cfjax.data.paths import ALLOW_MODIFIED_ENV
from cfjax.train import distributed
from cfjax.util import peak_rss

CONFIG_DIR = pathlib.Path(__file__).resolve().parent / "configs"
SHORTHANDS = ("dataset", "model", "seed", "data_dir", "chunk_size", "datasets", "models")

flags.DEFINE_string("preset", "default", "Named settings: smoke (about a minute), default (the "
                    "documented CPU scale) or paper (the paper's scale, for an accelerator).")
flags.DEFINE_string("dataset", None, "Dataset name (default: the config's).")
flags.DEFINE_string("model", None, "Recommender (default: the config's).")
flags.DEFINE_list("datasets", None, "Datasets of a multi-dataset runner (the benchmark).")
flags.DEFINE_list("models", None, "Recommenders of a multi-model runner (the benchmark).")
flags.DEFINE_integer("seed", None, "Seed of the split, the original model and the sampled users "
                     "(default: the config's).")
flags.DEFINE_string("data_dir", None, "Data root (default: $CFJAX_DATA_DIR or ~/.cache/cfjax).")
flags.DEFINE_integer("chunk_size", None, "Models per compiled engine call (default: the "
                     "config's, which depends on the device).")
flags.DEFINE_string("output_dir", None, "Results directory (default: "
                    "results/<runner>/<dataset>-<model>-<preset>).")
flags.DEFINE_bool("verbose", False, "Print tracebacks of errors instead of one line.")
flags.DEFINE_bool("allow_modified_data", False, "Load dataset files whose SHA-256 differs from "
                  "the published one (a warning instead of an error), for deliberate edits.")
flags.DEFINE_string("coordinator_address", None, "host:port of process 0 in a multi-process "
                    "run (with --num_processes and --process_id; detected under SLURM).")
flags.DEFINE_integer("num_processes", None, "Processes of a multi-process run (hosts, or one "
                     "per GPU).")
flags.DEFINE_integer("process_id", None, "This process's index in 0 .. num_processes - 1.")
FLAGS = flags.FLAGS
SHARED_FLAGS = ("preset", "dataset", "model", "datasets", "models", "seed", "data_dir",
                "chunk_size", "output_dir", "verbose", "allow_modified_data",
                "coordinator_address", "num_processes", "process_id")

USER_ERRORS = (ValueError, OSError)  # and their subclasses DatasetError, MissingHookError


def define_config(name: str) -> None:
  """Defines --config (default configs/<name>.py) so --config.<field>= works.

  ml_collections reads the --config.* overrides of sys.argv as it defines the flag, so a bad
  override fails here: one line, not a traceback."""
  try:
    config_flags.DEFINE_config_file(
        "config", str(CONFIG_DIR / f"{name}.py"),
        f"The {name} config; override fields with --config.<field>=.")
  except (AttributeError, KeyError, TypeError, ValueError, flags.Error) as error:
    sys.exit(f"{name}: bad flag: {str(error).strip() or repr(error)} is not a setting of "
             f"{name} (see cfjax/experiments/configs/{name}.py)")


def _set(config: ml_collections.ConfigDict, path: str, value) -> None:
  *parents, leaf = path.split(".")
  node = config
  for part in parents:
    node = node[part]
  if leaf not in node:
    raise ValueError(f"the config has no field {path!r}; its fields are "
                     f"{', '.join(sorted(node.keys()))}")
  node[leaf] = value


def load_config(name: str) -> ml_collections.ConfigDict:
  """The runner's config: get_config(--preset), then the shorthand flags, then --config.*."""
  module = importlib.import_module(f"cfjax.experiments.configs.{name}")
  config = module.get_config(FLAGS.preset)
  for key in SHORTHANDS:
    if FLAGS[key].present:
      if key not in config:
        raise ValueError(f"--{key} is not a setting of {name}; its settings are "
                         f"{', '.join(sorted(config.keys()))}")
      value = FLAGS[key].value
      _set(config, key, tuple(value) if isinstance(value, list) else value)
  for path, value in config_flags.get_override_values(FLAGS["config"]).items():
    _set(config, path, value)
  if "output_dir" in config:
    parts = [_canonical(config.dataset)] if "dataset" in config else []
    parts += [str(config.model)] if "model" in config else []
    slug = "-".join(parts)
    config.output_dir = FLAGS.output_dir or str(
        pathlib.Path("results") / name / f"{slug}-{config.preset}".lstrip("-"))
  return config


def _canonical(dataset: str) -> str:
  """The dataset's canonical name if it is a known one (so aliases share a directory)."""
  try:
    return canonical_name(dataset)
  except ValueError:
    return str(dataset)


def _parse(argv: list[str]) -> list[str]:
  """absl's flag parsing with a one-line error for a bad flag."""
  try:
    return FLAGS(argv)
  except (flags.Error, ValueError, AttributeError, KeyError) as error:
    sys.exit(f"{pathlib.Path(argv[0]).stem}: bad flag: {error}; see --helpfull")


def _stop(message: str) -> NoReturn:
  """Exits with `message`; in a multi-process run at once (`os._exit`): a normal exit waits
  for every process at jax.distributed's shutdown barrier, which the others, stuck in their
  next collective, never reach; without this process's heartbeat they stop within the
  heartbeat timeout."""
  if distributed.is_multiprocess():
    print(message, file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(1)
  sys.exit(message)


def _show_shared_flags() -> None:
  """Makes --help list the shared flags (defined here, in cfjax.experiments.cli) beside the
  runner's own: absl's --help shows the main module's key flags only."""
  main_module = sys.argv[0]
  for flag_name in (*SHARED_FLAGS, "config"):
    FLAGS.register_key_flag_for_module(main_module, FLAGS[flag_name])


def main(name: str, run: Callable[[ml_collections.ConfigDict, str], object],
         argv: list[str] | None = None) -> None:
  """Defines the runner's --config, parses the flags, joins a multi-process run if asked,
  loads the config, calls `run(config, output_dir)` and prints table.md, where it wrote and
  the peak memory.

  Args:
    name: the runner (its config is `configs/<name>.py`).
    run: the pipeline, `run(config, output_dir)`.
    argv: the program name and the flags; default sys.argv. Given, it replaces sys.argv:
      ml_collections reads the --config.* overrides from sys.argv, and absl's --help lists
      the flags of the module named sys.argv[0].
  """
  if argv is not None:
    sys.argv = list(argv)
  main_module = sys.modules.get("__main__")
  if main_module is not None:  # absl's --help starts with __main__'s docstring: the runner's
    main_module.__doc__ = importlib.import_module(f"cfjax.experiments.{name}").__doc__
  define_config(name)
  _show_shared_flags()

  def entry(argv):
    if len(argv) > 1:
      sys.exit(f"{name}: unexpected arguments {argv[1:]}; pass settings as --flags")
    logging.set_verbosity(logging.WARNING)
    if FLAGS.allow_modified_data:
      os.environ[ALLOW_MODIFIED_ENV] = "1"
    try:
      distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
      config = load_config(name)
      run(config, config.output_dir)
      output = pathlib.Path(config.output_dir)
      memory = f"peak RSS {peak_rss()['peak_rss_mib'] / 1024:.2f} GiB"
      if distributed.is_primary():
        print((output / "table.md").read_text(encoding="utf-8"))
        print(f"{name}: results in {output}/ ({memory})")
      else:
        print(f"{name}: process {distributed.process_index()} done ({memory}); process 0 "
              f"wrote {output}/")
    except USER_ERRORS as error:
      if FLAGS.verbose and not distributed.is_multiprocess():
        raise
      message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
      if FLAGS.verbose:
        traceback.print_exc()
      _stop(f"{name}: error: {message} (--verbose for a traceback)")
    except Exception:  # a bug: its traceback, then leave without hanging the other processes
      if not distributed.is_multiprocess():
        raise
      traceback.print_exc()
      _stop(f"{name}: process {distributed.process_index()} failed (traceback above)")

  app.run(entry, flags_parser=_parse)
