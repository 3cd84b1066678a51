"""cfjax: counterfactual explanations for recommenders, with batched retraining in JAX.

Layers, each importing only those before it (tests/test_layers.py checks it):
  util, version, types, records, registry -> data -> models -> rank -> train
  -> influence, simulate -> explain -> evaluate -> pipeline -> papers -> workflows -> experiments -> cli

  util.py      atomic writes, JSON, stopwatch, argument checks, the code version's hash
  version.py   the package version (one place)
  types.py     array aliases and the axis glossary ([M, S, I], ...)
  records.py   the Explanation / VerifiedRecord records and their JSONL
  registry.py  `Registry`: the one by-name idiom of explainers, models and datasets
  data/ models/ rank.py train/ influence/ simulate/ explain/ evaluate/   the library
  pipeline.py  the `Run` skeleton every results-writing pipeline uses
  papers/      one pipeline per paper table; workflows/: the other pipelines
  experiments/ the runners (`cfjax table3`, ...) and their configs, absl apps
  cli.py       `cfjax explain`, `cfjax <runner>` (also `python -m cfjax`, __main__.py)
"""

from cfjax import data, evaluate, explain, influence, models, rank, simulate, train
from cfjax.data import Interactions, load
from cfjax.evaluate import Comparison, compare, verify
from cfjax.explain import ExplainContext, Targets, get_explainer, register
from cfjax.models import Recommender, make_model
from cfjax.records import Explanation, VerifiedRecord, read_jsonl, write_jsonl
from cfjax.train import (Convergence, RetrainProtocol, retrain, to_train_data, train_original,
                         train_original_exact)
from cfjax.version import __version__

__all__ = ["Comparison", "Convergence", "ExplainContext", "Explanation", "Interactions",
           "Recommender", "RetrainProtocol", "Targets", "VerifiedRecord", "__version__", "compare",
           "data", "evaluate", "explain", "get_explainer", "influence", "load", "make_model",
           "models", "rank", "read_jsonl", "register", "retrain", "simulate", "to_train_data",
           "train", "train_original", "train_original_exact", "verify", "write_jsonl"]
