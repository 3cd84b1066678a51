"""Tutorial: read a results directory into pandas.

    python docs/tutorials/results_in_pandas.py results/table3/movielens-100k   # yours
    python docs/tutorials/results_in_pandas.py     # writes a tiny one first (~20 s), reads it

Every runner (`python -m experiments.table3`, `cfjax.workflows.*`) writes its results through
`cfjax.evaluate.ResultsDir`: config.json, explanations.jsonl (one record per target, dense ids
with the raw ones under "raw"; docs/schema.md), rows.csv (the same, flat), table.md and
table.json (the summary, written last).
"""

import json
import pathlib
import sys
import tempfile

import pandas as pd

import cfjax
from cfjax.data import make_synthetic
from cfjax.evaluate import ResultsDir
from cfjax.evaluate.results import verified_rows
from cfjax.evaluate.verify import summarize
from cfjax.explain import ExplainContext, get_explainer, run_explainer, top1_targets


def write_tiny_results(folder: pathlib.Path) -> pathlib.Path:
  """A small results directory: knn and the random placebo on synthetic MF, verified."""
  data = make_synthetic(num_users=40, num_items=60)
  model = cfjax.make_model("mf", data)
  protocol = cfjax.RetrainProtocol(steps=20, batch_size=None, seeds=(0,))
  original = cfjax.train_original(model, cfjax.to_train_data(data), protocol)
  ctx = ExplainContext.from_original(model, data, original, protocol)
  targets = top1_targets(ctx, [1, 2, 3, 4])
  records = (run_explainer(get_explainer("knn", e=2), ctx, targets)
             + run_explainer(get_explainer("random", e=2), ctx, targets))
  verified = cfjax.verify(records, model=model, train=data, original=original,
                          protocol=protocol.with_seeds([0, 1]), ks=(1, 5), progress=False)
  table = {method: summarize([v for v in verified if v.explanation.method == method], (1, 5))
           for method in ("knn", "random")}
  ResultsDir(folder).write(config={"tutorial": "results_in_pandas"}, records=verified,
                           rows=verified_rows(verified), table=table, markdown="(tutorial)\n")
  return folder


def read_results(folder: pathlib.Path) -> dict[str, pd.DataFrame]:
  """The directory's files as DataFrames."""
  records = pd.read_json(folder / "explanations.jsonl", lines=True)
  rows = pd.read_csv(folder / "rows.csv")
  table = pd.DataFrame(json.loads((folder / "table.json").read_text())).T
  return {"records": records, "rows": rows, "table": table}


def main(argv: list[str]) -> dict[str, pd.DataFrame]:
  if len(argv) > 1:
    folder = pathlib.Path(argv[1])
  else:
    folder = write_tiny_results(pathlib.Path(tempfile.mkdtemp()) / "results")
  frames = read_results(folder)
  rows = frames["rows"]
  print(rows.groupby("method")[["new_rank", "left_top_1"]].mean())
  print(frames["table"][["count", "validity"]])
  return frames


if __name__ == "__main__":
  main(sys.argv)
