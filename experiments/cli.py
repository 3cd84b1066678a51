"""What every runner shares: flags, config loading, one-line errors, where results went.

A runner is `experiments/<table>.py`: it names its config (`experiments/configs/<table>.py`,
whose `get_config(preset)` returns an `ml_collections.ConfigDict`) and the library pipeline
that runs it, and calls `cli.main(...)`. On the command line:

  --preset=smoke|default|paper   which settings `get_config` returns
  --dataset --model --seed --data_dir --chunk_size (--datasets --models)
                                 shorthands for the config fields of those names
  --config.<field>=<value>       any other field (`--helpfull` lists the config flag)
  --output_dir                   default results/<table>/<dataset>-<model>-<preset>
  --verbose                      a traceback instead of a one-line error
  --allow_modified_data          load edited dataset files (their checksum differs) anyway

A user's mistake (a bad flag, a missing file, an impossible setting) ends in one line naming
it; only genuine bugs print a traceback.
"""

from __future__ import annotations

import importlib
import os
import pathlib
import sys
from typing import Callable

from absl import app, flags, logging
import ml_collections
from ml_collections import config_flags

from cfjax.data import canonical_name
from cfjax.data.paths import ALLOW_MODIFIED_ENV

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
FLAGS = flags.FLAGS

USER_ERRORS = (ValueError, OSError)  # and their subclasses DatasetError, MissingHookError


def define_config(name: str) -> None:
  """Defines --config (default experiments/configs/<name>.py) so --config.<field>= works.

  ml_collections reads the --config.* overrides of sys.argv as it defines the flag, so a bad
  override fails here: one line, not a traceback."""
  try:
    config_flags.DEFINE_config_file(
        "config", str(CONFIG_DIR / f"{name}.py"),
        f"The {name} config; override fields with --config.<field>=.")
  except (AttributeError, KeyError, TypeError, ValueError, flags.Error) as error:
    sys.exit(f"{name}: bad flag: {str(error).strip() or repr(error)} is not a setting of "
             f"{name} (see experiments/configs/{name}.py)")


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
  module = importlib.import_module(f"experiments.configs.{name}")
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


def main(name: str, run: Callable[[ml_collections.ConfigDict, str], object]) -> None:
  """Defines the runner's --config, parses the flags, loads the config, calls
  `run(config, output_dir)` and prints table.md and where it wrote."""
  define_config(name)

  def entry(argv):
    if len(argv) > 1:
      sys.exit(f"{name}: unexpected arguments {argv[1:]}; pass settings as --flags")
    logging.set_verbosity(logging.WARNING)
    if FLAGS.allow_modified_data:
      os.environ[ALLOW_MODIFIED_ENV] = "1"
    try:
      config = load_config(name)
      run(config, config.output_dir)
      output = pathlib.Path(config.output_dir)
      print((output / "table.md").read_text(encoding="utf-8"))
      print(f"{name}: results in {output}/")
    except USER_ERRORS as error:
      if FLAGS.verbose:
        raise
      message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
      sys.exit(f"{name}: error: {message} (--verbose for a traceback)")

  app.run(entry, flags_parser=_parse)
