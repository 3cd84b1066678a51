"""The `cfjax` command (also `python -m cfjax`).

    cfjax explain --dataset=movielens --user=42
    cfjax explain --dataset=movielens --model=ncf --users=3 --methods=knn,accent --output=x.json

`explain` trains the original once (cached by data checksum, model, hyperparameters, training
and seed under $CFJAX_CACHE_DIR or ~/.cache/cfjax), prints the user's top 5 with titles, each
method's explanation as a sentence, and what retraining without it found beside a random
placebo of the same size and the noise floor (`cfjax.workflows.explain_user`).

A mistake (an unknown dataset, user or method, a missing file, an impossible setting) ends in
one line naming it (`--verbose` for a traceback).

    cfjax table3 --preset=smoke --dataset=movielens

runs a paper table or study (`cfjax.experiments`, its absl flags; `cfjax --help` lists them).
"""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
import sys
import textwrap
import warnings

from cfjax.experiments import RUNNERS
from cfjax.experiments import run as run_runner

USER_ERRORS = (ValueError, OSError)


def _comma_list(text: str) -> tuple[str, ...]:
  return tuple(part.strip() for part in text.split(",") if part.strip())


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
  pairs = []
  for part in _comma_list(text):
    role, sep, column = part.partition("=")
    if not sep or not role or not column:
      raise argparse.ArgumentTypeError(f"{part!r} is not role=column (e.g. user=userId)")
    pairs.append((role.strip(), column.strip()))
  return tuple(pairs)


def parser() -> argparse.ArgumentParser:
  """The command line of `cfjax`."""
  main = argparse.ArgumentParser(prog="cfjax", description="Counterfactual explanations of "
                                 "recommendations, verified by retraining.")
  commands = main.add_subparsers(dest="command", required=True, metavar="command")
  explain = commands.add_parser(
      "explain", help="explain a user's top recommendation with every method, and verify it",
      description="Explains a user's top-1 recommendation with every registered method that "
      "fits the model and checks each explanation by retraining without it, beside a random "
      "placebo of the same size and the noise floor (nothing deleted).",
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  explain.add_argument("--dataset", default="movielens-100k",
                       help="a dataset name (movielens-100k, ml-1m, amazon-digital-music, "
                       "synthetic, ...) or a data file")
  explain.add_argument("--columns", type=_pairs, default=(),
                       help="for a data file: its columns, e.g. user=userId,item=movieId,"
                       "rating=rating,title=title (no rating: implicit feedback)")
  explain.add_argument("--model", default=None,
                       help="a model name (mf, ncf, bpr, ...); default: mf on ratings, bpr on "
                       "implicit feedback (no rating column)")
  explain.add_argument("--min_support", type=int, default=None,
                       help="items with fewer training interactions are dropped before "
                       "training (not recommended, not in histories); default 10 "
                       "(explain_user.MIN_SUPPORT); 1 keeps every item")
  who = explain.add_mutually_exclusive_group()
  who.add_argument("--user", action="append", default=None,
                   help="a raw user id as in the dataset's files (repeat for several)")
  who.add_argument("--users", type=int, default=1, help="explain this many random users")
  explain.add_argument("--methods", type=_comma_list, default=(),
                       help="comma-separated explainers; default: every one that fits the "
                       "model and declares itself fast (not the surrogates, which first "
                       "simulate hundreds of retrains, nor certified, exhaustive, metagrad: "
                       "minutes per target); 'all' runs those too")
  explain.add_argument("--k", type=int, default=1,
                       help="an explanation is valid if the item leaves the top-K")
  explain.add_argument("--size", type=int, default=3,
                       help="explanation size e of the methods that take one")
  explain.add_argument("--verify", action=argparse.BooleanOptionalAction, default=True,
                       help="retrain without each explanation to check it")
  explain.add_argument("--seeds", type=int, default=2,
                       help="verification seeds: the original's own (paired) and N-1 others")
  explain.add_argument("--seed", type=int, default=0, help="training and sampling seed")
  explain.add_argument("--steps", type=int, default=None,
                       help="training steps of the original and every retrain (default: the "
                       "model's)")
  explain.add_argument("--data_dir", default=None,
                       help="folder of the datasets (default: $CFJAX_DATA_DIR)")
  explain.add_argument("--cache_dir", default=None,
                       help="where trained originals are cached (default: "
                       "$CFJAX_CACHE_DIR/originals or ~/.cache/cfjax/originals)")
  explain.add_argument("--no_cache", action="store_true", help="do not cache the original")
  explain.add_argument("--output", default=None, help="also write the report as JSON here")
  explain.add_argument("--quiet", action="store_true", help="no progress bars")
  explain.add_argument("--verbose", action="store_true",
                       help="print tracebacks of errors instead of one line")
  return main


def _quiet_jax() -> None:
  """Silences JAX's line about missing TPU/GPU backends (not a problem on a CPU machine)."""
  logging.getLogger("jax._src.xla_bridge").setLevel(logging.ERROR)
  warnings.filterwarnings("ignore", message=".*TPU.*")


def explain(args: argparse.Namespace) -> None:
  """Runs `cfjax explain`: prints the report and writes it as JSON if asked."""
  from cfjax.workflows import explain_user as pipeline  # after argparse: --help stays instant

  request = pipeline.Request(
      dataset=args.dataset, model=args.model, users=tuple(args.user or ()),
      num_users=args.users, methods=args.methods, k=args.k, size=args.size,
      verify=args.verify, seeds=args.seeds, seed=args.seed, steps=args.steps,
      data_dir=args.data_dir, columns=args.columns,
      min_support=pipeline.MIN_SUPPORT if args.min_support is None else args.min_support,
      cache_dir=None if args.no_cache else (args.cache_dir or pipeline.default_cache_dir()))
  pipeline.check_request(request)
  if args.output is not None:  # before the expensive work: a bad path fails now
    output = pathlib.Path(args.output)
    if not output.parent.is_dir():
      raise ValueError(f"--output {output}: folder {output.parent} does not exist; create it "
                       "or pass another path")
  report = pipeline.explain_user(request, progress=not args.quiet)
  print(pipeline.render(report))
  if args.output is not None:
    from cfjax.util import atomic_write_text, to_json
    atomic_write_text(output, to_json(report) + "\n")
    print(f"wrote {output}")


def with_runners(main: argparse.ArgumentParser) -> argparse.ArgumentParser:
  """`main` with the experiment runners (`cfjax.experiments.RUNNERS`) listed as commands, and
  `explain --help` naming the registered datasets, models and methods.

  The runners are absl apps: `main()` hands `cfjax <runner> ...` to them before argparse, so
  these entries only list them. The registries import JAX and explainers register on import,
  so their names are read only when --help is asked for (`_registered_choices`)."""
  for name, summary in RUNNERS.items():
    _commands(main).add_parser(name, add_help=False, help=summary.replace("%", "%%"))
  main.epilog = ("explain takes the options above (cfjax explain --help); the other commands "
                 "run a paper table or study and take absl flags (cfjax table3 --help)")
  return main


def _commands(main: argparse.ArgumentParser) -> argparse._SubParsersAction:
  return next(action for action in main._actions
              if isinstance(action, argparse._SubParsersAction))


class _DefaultsAndEpilog(argparse.ArgumentDefaultsHelpFormatter,
                         argparse.RawDescriptionHelpFormatter):
  """Help with each option's default and the epilog's lines kept as written."""


def _registered_choices() -> str:
  """The registered datasets, models and explanation methods, for `cfjax explain --help`."""
  from cfjax.data import available_datasets
  from cfjax.explain import EXPLAINERS, discover
  from cfjax.models import available_models
  from cfjax.workflows.explain_user import CONTROLS

  discover()
  methods = [name for name in EXPLAINERS.names() if name not in CONTROLS]
  lines = {"datasets": [*available_datasets(), "(or a data file)"],
           "models": available_models(), "methods": [*methods, "all"]}
  return "\n".join(textwrap.fill(" ".join(names), width=80, initial_indent=f"{kind}: ",
                                  subsequent_indent="  ") for kind, names in lines.items())


def main(argv: list[str] | None = None) -> None:
  """Entry point of the `cfjax` console script: `cfjax explain ...` or `cfjax <runner> ...`."""
  argv = sys.argv[1:] if argv is None else list(argv)
  if argv and argv[0] in RUNNERS:
    run_runner(argv[0], argv[1:])
    return
  command_line = with_runners(parser())
  if argv[:1] == ["explain"] and {"-h", "--help"} & set(argv):
    explain_parser = _commands(command_line).choices["explain"]
    explain_parser.formatter_class = _DefaultsAndEpilog
    explain_parser.epilog = _registered_choices()
  args = command_line.parse_args(argv)
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
  _quiet_jax()
  try:
    explain(args)
  except USER_ERRORS as error:
    if args.verbose:
      raise
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    sys.exit(f"cfjax {args.command}: error: {message} (--verbose for a traceback)")
  except KeyboardInterrupt:
    sys.exit(f"cfjax {args.command}: interrupted (the trained original stays cached)")


if __name__ == "__main__":
  main()
