"""One user's recommendation, explained by every method and checked by retraining.

The pipeline behind `cfjax explain`: train the original once (cached by what it depends on:
data checksum, model and hyperparameters, training spec, library source), take the user's
top-1 unseen item, explain it with each registered method that fits the model, and retrain
without each explanation (Yao et al., eq. 2: valid if the item leaves the top-K) beside

- a placebo: a random set of the same size from the user's history (`cf_table.placebo_record`),
- the noise floor: nothing deleted, the same seeds (does the item stay without a deletion?),

under several seeds: the first is the original's own (init and batch order; the deletion is the
only difference: "paired"), the others change init and order too (does the explanation hold
beyond one training run?). Deleting nothing under the paired seed reproduces the original
exactly (the original is trained inside the same compiled engine step as its retrains).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from cfjax import data as cfdata
from cfjax import util
from cfjax.data.interactions import Interactions
from cfjax.evaluate import verify
from cfjax.evaluate.cf_table import placebo_record
from cfjax.evaluate.describe import describe, rating_of, user_name
from cfjax.explain import get_explainer, run_explainer
from cfjax.explain.base import Targets, explainers_for
from cfjax.models import MODELS, make_model
from cfjax.pipeline import engine_chunk_size, original_context
from cfjax.records import Explanation, VerifiedRecord
from cfjax.train import RetrainProtocol
from cfjax.util import check_int, code_version

CONTROLS = ("random", "none")
# The cost classes run by default (each explainer declares its `cost`, cfjax.explain.COSTS):
# not the simulating methods (hundreds of retrains to fit a surrogate first: minutes) nor the
# slow ones (many candidate sets retrained per target, or differentiation through the whole
# training run); run those by naming them or with methods=("all",).
DEFAULT_COSTS = ("fast",)
# The version of the report's layout (docs/schema.md): raised when a field changes meaning or
# goes away, not when one is added.
REPORT_SCHEMA_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Request:
  """What to explain and how.

  Attributes:
    dataset: a registered name ("movielens-100k", aliases) or a file path (when the data
      layer can load one).
    model: a `make_model` name.
    users: raw user ids (as in the data's own files) to explain; empty: `num_users` random.
    num_users: how many random users when `users` is empty.
    methods: explainer names; empty: every registered one that fits the model except the
      simulating and slow ones (their declared `cost` is not in `DEFAULT_COSTS`); ("all",):
      every one that fits.
    k: the list length the item must leave (validity@K).
    size: the explanation size e of the methods that take one.
    verify: retrain to check each explanation.
    seeds: verification seeds: the original's (paired) and seeds - 1 others.
    seed: the seed of the original's training and of the random choices.
    steps, batch_size: training of the original (and every retrain); None: the model's default.
    data_dir: the datasets' folder (None: CFJAX_DATA_DIR or the cache).
    cache_dir: where trained originals are kept (None: no cache).
    columns: for a data file, its column names as (role, column) pairs: user, item and
      optionally rating (none: implicit feedback), timestamp, title (`cfjax.data.load`).
  """

  dataset: str = "movielens-100k"
  model: str = "mf"
  users: tuple[str, ...] = ()
  num_users: int = 1
  methods: tuple[str, ...] = ()
  k: int = 1
  size: int = 3
  verify: bool = True
  seeds: int = 3
  seed: int = 0
  steps: int | None = None
  batch_size: int | None = None
  data_dir: str | None = None
  cache_dir: str | None = None
  columns: tuple[tuple[str, str], ...] = ()


def default_cache_dir() -> str:
  """$CFJAX_CACHE_DIR/originals, else ~/.cache/cfjax/originals (`cfjax.data.default_cache_dir`,
  the runners' default too)."""
  return cfdata.default_cache_dir("originals")


def check_request(request: Request) -> None:
  """One-line errors for impossible settings, before any data is loaded or model trained."""
  for name in ("num_users", "k", "size", "seeds"):
    check_int(getattr(request, name), name, minimum=1)
  check_int(request.seed, "seed")
  if request.steps is not None:
    check_int(request.steps, "steps", minimum=1)
  if request.batch_size is not None:
    check_int(request.batch_size, "batch_size", minimum=1)
  if request.methods and "all" in request.methods and len(request.methods) > 1:
    raise ValueError("methods: 'all' stands alone; pass either 'all' or method names")


def resolve_users(data: Interactions, raw_users: Sequence[str]) -> np.ndarray:
  """Dense ids of raw user ids (compared as text, so "42" finds MovieLens' user 42).

  Raises:
    ValueError: a raw id that is not in the data (naming it and the id range).
  """
  if data.user_ids is None:
    names = np.arange(data.num_users).astype(str)
  else:
    names = np.asarray(data.user_ids).astype(str)
  position = {name: index for index, name in enumerate(names)}
  missing = [raw for raw in raw_users if str(raw) not in position]
  if missing:
    raise ValueError(f"user {missing[0]!r} is not in the data (its users run from "
                     f"{names[0]} to {names[-1]}); pass a user id from the dataset's own files")
  return np.asarray([position[str(raw)] for raw in raw_users], dtype=np.int64)


def resolve_methods(request: Request, model) -> list[str]:
  """The explainers to run (without the controls, which always run)."""
  fitting = [name for name in explainers_for(model) if name not in CONTROLS]
  if request.methods == ("all",):
    return fitting
  if not request.methods:
    return [name for name in explainers_for(model, DEFAULT_COSTS) if name not in CONTROLS]
  unknown = [name for name in request.methods if name not in fitting]
  if unknown:
    raise ValueError(f"method {unknown[0]!r} is unknown or does not fit model {model.name!r}; "
                     f"choose from {', '.join(fitting)} (or 'all')")
  return [name for name in request.methods if name not in CONTROLS]


def options_of(name: str, request: Request) -> dict:
  """The explainer's options from the request: e = size and the seed where the method takes
  them (a method's own `k`, e.g. ACCENT's candidate list, keeps its default: it is not the
  validity K)."""
  fields = {field.name for field in dataclasses.fields(type(get_explainer(name)))}
  options = {"e": request.size, "seed": request.seed}
  return {key: value for key, value in options.items() if key in fields}


def _item(data: Interactions, user: int, item: int, score: float | None = None) -> dict:
  entry = {"item": _raw_item(data, item), "title": _title(data, item),
           "rating": rating_of(data, user, item)}
  if score is not None:
    entry["score"] = float(score)
  return entry


def _raw_item(data: Interactions, item: int):
  return util.jsonable(data.item_ids[item]) if data.item_ids is not None else int(item)


def _title(data: Interactions, item: int) -> str | None:
  return data.item_titles[item] if data.item_titles is not None else None


def _outcome(verified: VerifiedRecord, k: int, paired: bool) -> dict:
  return {"seed": int(verified.seeds[0]), "paired": paired, "new_rank": int(verified.new_rank),
          "left_top_k": bool(verified.left_top_k[k]),
          "replacement_overtook": verified.replacement_overtook}


def verified_outcomes(request: Request, ctx, checked: list[Explanation], seeds: list[int],
                      chunk_size: int, *, progress: bool) -> dict[tuple, list[dict]]:
  """(method, user) -> what retraining without each checked record found, one entry per seed
  (`verify` from scratch under the original's protocol, one outcome per seed; the first seed
  is the original's: paired)."""
  outcomes: dict[tuple, list[dict]] = {}
  verification = ctx.spec.with_seeds(seeds).with_chunk_size(chunk_size)
  for verified in verify(checked, model=ctx.model, train=ctx.train, original=ctx.original,
                         protocol=verification, ks=(request.k,), per_seed=True,
                         progress=progress):
    key = (verified.explanation.method, verified.explanation.user)
    outcomes.setdefault(key, []).append(
        _outcome(verified, request.k, paired=verified.seeds == (ctx.spec.seed,)))
  return outcomes


def _left_counts(outcomes: list[dict]) -> dict:
  """Under how many seeds the target left the top-K: "seeds_left_top_k", and "held", its
  deprecated name (it reads backwards for the noise floor, where leaving is instability)."""
  count = sum(o["left_top_k"] for o in outcomes)
  return {"seeds_left_top_k": count, "held": count}


def user_report(request: Request, data: Interactions, user: int, top_items: np.ndarray,
                top_scores: np.ndarray, records: list[Explanation],
                placebos: list[Explanation], outcomes: dict, seconds: dict) -> dict:
  """One user's part of the report: the top-5, the target, per method its sentence, deleted
  items and verification beside its placebo's, and the noise floor."""
  target = int(top_items[0])
  floor = outcomes.get(("none", user), [])
  entries = []
  for record in (r for r in records if r.user == user):
    placebo = [p for p in placebos if p.user == user and p.extra["placebo_of"] == record.method]
    entry = {"method": record.method, "found": record.found,
             "sentence": describe(record, data, request.k),
             "deleted": [_item(data, user, i) for i in record.deleted_items],
             "replacement": (None if record.replacement is None else
                             _item(data, user, record.replacement)),
             "seconds": seconds[record.method]}
    if request.verify and record.found:
      mine = outcomes[(record.method, user)]
      theirs = outcomes.get((placebo[0].method, user), []) if placebo else []
      entry["verification"] = mine
      entry.update(_left_counts(mine))
      entry["placebo"] = {"deleted": [_item(data, user, i) for i in placebo[0].deleted_items],
                          "verification": theirs, **_left_counts(theirs)}
    entries.append(entry)
  return {"user": util.jsonable(data.user_ids[user]) if data.user_ids is not None else user,
          "history": len(data.history_rows(user)),
          "top": [_item(data, user, int(i), s) for i, s in zip(top_items, top_scores)],
          "target": _item(data, user, target),
          "methods": entries,
          "noise_floor": {"verification": floor, **_left_counts(floor)}}


def explain_user(request: Request, *, progress: bool = True) -> dict:
  """Explains each requested user's top-1 recommendation and verifies every explanation.

  Args:
    request: what to explain and how (`Request`).
    progress: show progress bars (explaining, retraining).

  Returns:
    A JSON-able report: "setup" (dataset, model, training, protocol), "users" (per user: the
    top-5 with titles, the target, per method the sentence, the deleted items and what
    retraining found under each seed, its placebo's, and the noise floor), "seconds".
  """
  check_request(request)
  with util.timed() as total:
    data = cfdata.load(request.dataset, data_dir=request.data_dir, **dict(request.columns))
    training = MODELS.get(request.model).recipe
    model = make_model(request.model, data, **training.hparams)
    methods = resolve_methods(request, model)
    users = (resolve_users(data, request.users) if request.users else
             cfdata.sample_users(data, request.num_users, min_history=request.size + 1,
                                 seed=(request.seed, 0xE7A1)))
    short = [int(u) for u in users if len(data.history_rows(int(u))) <= request.size]
    if short:
      raise ValueError(f"user {user_name(data, short[0])} has "
                       f"{len(data.history_rows(short[0]))} interactions, not more than the "
                       f"explanation size {request.size}; pick another user or a smaller --size")
    batch_size = request.batch_size or training.batch_size
    spec = RetrainProtocol(steps=request.steps or training.steps, batch_size=batch_size,
                           seeds=(request.seed,))
    chunk_size = engine_chunk_size(None, batch_size)
    with util.timed() as fitting:
      ctx, fit_info = original_context(model, data, spec, cache_dir=request.cache_dir,
                                       exact_chunk=chunk_size)
    top_items, top_scores = ctx.top_k(users, 5)
    targets = Targets(users, top_items[:, 0])

    records: list[Explanation] = []
    seconds: dict[str, float] = {}
    for name in tqdm(methods, desc="explaining", unit="method", disable=not progress,
                     leave=False):
      with util.timed() as watch:
        found = run_explainer(get_explainer(name, **options_of(name, request)), ctx, targets)
      seconds[name] = watch.seconds / len(targets)
      records += [dataclasses.replace(r, method=name) for r in found]
    placebos = [placebo_record(r, data, request.seed) for r in records if r.found]
    nothing = run_explainer(get_explainer("none"), ctx, targets)

    seeds = [request.seed + offset for offset in range(request.seeds)]
    with util.timed() as verifying:
      outcomes = (verified_outcomes(request, ctx, [r for r in records if r.found] + placebos
                                    + list(nothing), seeds, chunk_size, progress=progress)
                  if request.verify else {})

  report_users = [user_report(request, data, int(user), top_items[position],
                              top_scores[position], records, placebos, outcomes, seconds)
                  for position, user in enumerate(users)]
  setup = {"dataset": data.name, "data_sha256": cfdata.data_checksum(data),
           "model": model.name, "hparams": model.hparams,
           "training": {"steps": spec.steps, "batch_size": spec.batch_size, "seed": spec.seed,
                        "cached": bool(fit_info.get("loaded"))},
           "protocol": {"kind": "scratch", "steps": spec.steps, "seeds": seeds,
                        "paired_seed": request.seed, "k": request.k, "size": request.size,
                        "verified": request.verify},
           "methods": methods, "code": code_version()}
  return {"schema_version": REPORT_SCHEMA_VERSION, "setup": setup, "users": report_users,
          "seconds": {"total": total.seconds, "train_original": fitting.seconds,
                      "verify": verifying.seconds}}


def _held(held: int, seeds: int, k: int) -> str:
  return f"left the top-{k} under {held} of {seeds} seed{'s' if seeds != 1 else ''}"


def _ranks(outcomes: list[dict]) -> str:
  return ", ".join(f"{o['new_rank']}{'*' if o['paired'] else ''}" for o in outcomes)


def render(report: dict) -> str:
  """The report as text: per user the top-5, then per method the sentence and its verdict
  beside the placebo's; the setup and the noise floor stated, ranks after retraining listed
  per seed (* marks the paired seed)."""
  setup = report["setup"]
  protocol = setup["protocol"]
  k, seeds = protocol["k"], len(protocol["seeds"])
  lines = [f"{setup['model']} on {setup['dataset']} ({setup['training']['steps']} steps, "
           f"seed {setup['training']['seed']}"
           f"{', cached' if setup['training']['cached'] else ''})"]
  for user in report["users"]:
    lines.append("")
    lines.append(f"User {user['user']} ({user['history']} interactions). Top 5:")
    for rank, entry in enumerate(user["top"], start=1):
      lines.append(f"  {rank}. {_label(entry)}  (score {entry['score']:.3f})")
    lines.append("")
    for entry in user["methods"]:
      lines.append(f"[{entry['method']}] {entry['sentence']}")
      if "verification" in entry:
        placebo = entry["placebo"]
        lines.append(f"    retrained without them: {_label(user['target'])} "
                     f"{_held(entry['held'], seeds, k)} (new ranks {_ranks(entry['verification'])});"
                     f" a random placebo of {len(placebo['deleted'])}: "
                     f"{_held(placebo['held'], seeds, k)} (ranks {_ranks(placebo['verification'])})")
    floor = user["noise_floor"]
    if floor["verification"]:
      lines.append(f"[noise floor] nothing deleted, same seeds: {_label(user['target'])} "
                   f"{_held(floor['held'], seeds, k)} (ranks {_ranks(floor['verification'])})")
  if protocol["verified"]:
    lines.append("")
    lines.append(f"Verification: retrained from scratch for {protocol['steps']} steps without "
                 f"the items, under seeds {protocol['seeds']}; * is the original's own seed "
                 "(paired: the deletion is the only difference). Valid if the item leaves "
                 f"the top-{k} of the user's unseen items; the placebo deletes as many random "
                 "items of the user's, the noise floor none.")
  lines.append(f"{report['seconds']['total']:.1f} s")
  return "\n".join(lines)


def _label(entry: dict) -> str:
  name = f"*{entry['title']}*" if entry.get("title") else f"item {entry['item']}"
  return name
