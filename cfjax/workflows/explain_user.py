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
from cfjax import rank, util
from cfjax.data.interactions import Interactions
from cfjax.data.transforms import filter_min_interactions
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
# The model when none is named: MF regresses ratings; on implicit feedback (one rating value)
# every MF score ties, so implicit data get BPR-MF, which ranks positives above the rest.
RATINGS_MODEL, IMPLICIT_MODEL = "mf", "bpr"
# Items with fewer training interactions than this are not recommendable (dropped before
# training): rating-regression MF ranks an item rated 5 by its 2 raters above one rated 4.5 by
# 350 (MovieLens user 42's MF top-1 was *Prefontaine (1997)*, 3 ratings; with 10: *Titanic*).
MIN_SUPPORT = 10


@dataclasses.dataclass(frozen=True)
class Request:
  """What to explain and how.

  Attributes:
    dataset: a registered name ("movielens-100k", aliases) or a file path (when the data
      layer can load one).
    model: a `make_model` name; None: "mf" on ratings, "bpr" on implicit feedback (one
      rating value: `choose_model`). A rating regressor on implicit feedback is refused.
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
    min_support: items with fewer training interactions are dropped before training (neither
      recommended nor in histories: `recommendable`); 1 keeps every item.
  """

  dataset: str = "movielens-100k"
  model: str | None = None
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
  min_support: int = MIN_SUPPORT


def default_cache_dir() -> str:
  """$CFJAX_CACHE_DIR/originals, else ~/.cache/cfjax/originals (`cfjax.data.default_cache_dir`,
  the runners' default too)."""
  return cfdata.default_cache_dir("originals")


def check_request(request: Request) -> None:
  """One-line errors for impossible settings, before any data is loaded or model trained."""
  for name in ("num_users", "k", "size", "seeds", "min_support"):
    value = getattr(request, name)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
      raise ValueError(f"{name}={value!r} is not a whole number >= 1; pass --{name}=1 or more")
  if (isinstance(request.seed, bool) or not isinstance(request.seed, (int, np.integer))
      or request.seed < 0):
    raise ValueError(f"seed={request.seed!r} is not an int >= 0 (it names a random key); pass "
                     "--seed=0 or another int >= 0")
  if request.steps is not None:
    check_int(request.steps, "steps", minimum=1)
  if request.batch_size is not None:
    check_int(request.batch_size, "batch_size", minimum=1)
  if request.methods and "all" in request.methods and len(request.methods) > 1:
    raise ValueError("methods: 'all' stands alone; pass either 'all' or method names")


def constant_rating(data: Interactions) -> float | None:
  """The one rating value of implicit feedback (every row the same rating), else None."""
  if len(data) and np.all(data.rating == data.rating[0]):
    return float(data.rating[0])
  return None


def choose_model(data: Interactions, requested: str | None) -> tuple[str, str | None]:
  """The model to train and, when it was chosen for the data, the line saying so.

  None picks `RATINGS_MODEL` ("mf"), or `IMPLICIT_MODEL` ("bpr", a ranking model) when every
  rating is one value (implicit feedback: a rating regressor would score every item alike).

  Raises:
    ValueError: a rating regressor (`ModelEntry.regresses_ratings`) asked for on implicit data.
  """
  constant = constant_rating(data)
  if requested is None:
    if constant is None:
      return RATINGS_MODEL, None
    return IMPLICIT_MODEL, (f"model: {IMPLICIT_MODEL} (BPR-MF, a ranking model), since every "
                            f"rating is {constant:g} (implicit feedback: no rating column, or one "
                            "value); "
                            "--model=<name> picks another")
  if constant is not None and requested in MODELS and MODELS.get(requested).regresses_ratings:
    rankers = ", ".join(name for name in MODELS.select(
        lambda entry: not entry.regresses_ratings and not entry.amortised)
                        if name not in (IMPLICIT_MODEL, "rcf"))  # rcf needs side data
    raise ValueError(f"model {requested!r} regresses ratings but every rating in the data is "
                     f"{constant:g} (implicit feedback): all its scores would tie; pass "
                     f"--model={IMPLICIT_MODEL} (or {rankers}), or name a rating column in "
                     "--columns")
  return requested, None


def recommendable(data: Interactions, min_support: int) -> tuple[Interactions, str | None]:
  """`data` without the items of fewer than `min_support` interactions (and users left with
  none; `filter_min_interactions`), raw ids kept, and the line saying what was dropped (None
  when nothing was)."""
  counts = np.bincount(data.item, minlength=data.num_items)
  if min_support <= 1 or counts.min(initial=min_support) >= min_support:
    return data, None
  if data.columns:
    return data, (f"--min_support={min_support} not applied: {data.name} carries extra row "
                  f"columns ({', '.join(sorted(data.columns))}) that renumbering cannot keep")
  named = dataclasses.replace(  # dense ids become raw ids, so --user=7 stays user 7
      data, user_ids=np.arange(data.num_users) if data.user_ids is None else data.user_ids,
      item_ids=np.arange(data.num_items) if data.item_ids is None else data.item_ids)
  kept = filter_min_interactions(named, min_user=1, min_item=min_support)
  return kept, (f"recommendable items: the {kept.num_items} of {data.num_items} with >= "
                f"{min_support} interactions (--min_support); {len(data) - len(kept)} rows of "
                "the others dropped before training")


def unique_users(users: np.ndarray, data: Interactions) -> tuple[np.ndarray, str | None]:
  """The users in first-seen order, each once, and a line naming those listed more often."""
  unique, first, counts = np.unique(users, return_index=True, return_counts=True)
  if (counts == 1).all():
    return users, None
  repeated = [f"{user_name(data, int(u))} ({c} times)" for u, c in zip(unique, counts) if c > 1]
  return (users[np.sort(first)],
          f"explained once each: user {', '.join(repeated)} was listed more than once")


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
  them (ACCENT's `replacement_k`, its candidate list, keeps its default)."""
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
    model_name, model_note = choose_model(data, request.model)
    if request.users:
      resolve_users(data, request.users)  # a user not in the data at all: named now
    data, support_note = recommendable(data, request.min_support)
    training = MODELS.get(model_name).recipe
    model = make_model(model_name, data, **training.hparams)
    methods = resolve_methods(request, model)
    users, duplicate_note = (unique_users(resolve_users(data, request.users), data)
                             if request.users else
                             (cfdata.sample_users(data, request.num_users,
                                                  min_history=request.size + 1,
                                                  seed=(request.seed, 0xE7A1)), None))
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
    tied = int(rank.tied_at_top(top_scores).sum())
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
           "methods": methods, "min_support": request.min_support,
           "notes": [note for note in (model_note, support_note, duplicate_note) if note],
           "code": code_version()}
  warned = [rank.tie_message(tied, len(users))] if tied else []
  return {"schema_version": REPORT_SCHEMA_VERSION, "setup": setup, "users": report_users,
          "warnings": warned,
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
  lines += [f"note: {note}" for note in setup.get("notes", ())]
  lines += [f"warning: {warning}" for warning in report.get("warnings", ())]
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
