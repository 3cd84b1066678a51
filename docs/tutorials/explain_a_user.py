"""Tutorial: explain one user's top recommendation, and check the explanation by retraining.

Run it from a clone or after `pip install cfjax`:

    CFJAX_DATA_DIR=/path/to/data python docs/tutorials/explain_a_user.py   # MovieLens 100K
    CFJAX_TUTORIAL_TINY=1 python docs/tutorials/explain_a_user.py          # synthetic, ~20 s

The steps are the library path behind `cfjax explain`: load the data, make a model, train the
original once, take the user's top-1 unseen item, explain it, then retrain without the
explanation beside a random placebo of the same size and the noise floor (nothing deleted).
"""

import os

import cfjax
from cfjax.data import make_synthetic
from cfjax.explain import ExplainContext, get_explainer, run_explainer, top1_targets
from cfjax.models import MODELS

TINY = os.environ.get("CFJAX_TUTORIAL_TINY") == "1"


def main() -> dict:
  # 1. Data: an `Interactions` (dense ids 0..U-1, 0..I-1; the raw ids kept beside them).
  data = make_synthetic(num_users=40, num_items=60) if TINY else cfjax.load("movielens-100k")

  # 2. A model with its registered recipe's hyperparameters, and one RetrainProtocol: the
  #    steps, batch size and seeds that train the original AND every retrain that checks it.
  recipe = MODELS.get("mf").recipe
  model = cfjax.make_model("mf", data, **recipe.hparams)
  protocol = cfjax.RetrainProtocol(steps=20 if TINY else recipe.steps, batch_size=None,
                                   seeds=(0,))
  original = cfjax.train_original(model, cfjax.to_train_data(data), protocol)

  # 3. The recommendation to explain: user 7's top-1 unseen item.
  ctx = ExplainContext.from_original(model, data, original, protocol)
  targets = top1_targets(ctx, [7])
  (explanation,) = run_explainer(get_explainer("knn", e=3), ctx, targets)
  print(f"user {explanation.user}: item {explanation.item} is explained by deleting "
        f"{list(explanation.deleted_items)}")

  # 4. Verify beside a placebo (as many random items of the user's) and the noise floor
  #    (nothing deleted): an explanation means something only above both.
  (placebo,) = run_explainer(get_explainer("random", e=3, seed=0), ctx, targets)
  (nothing,) = run_explainer(get_explainer("none"), ctx, targets)
  checking = protocol.with_seeds([0, 1])  # the original's own seed (paired) and one other
  verified = cfjax.verify([explanation, placebo, nothing], model=model, train=data,
                           original=original, protocol=checking, ks=(1,), progress=False)
  ranks = {record.explanation.method: record.new_rank for record in verified}
  for record in verified:
    print(f"{record.explanation.method:>6}: new rank {record.new_rank} "
          f"(left the top-1: {record.left_top_k[1]})")
  return ranks


if __name__ == "__main__":
  main()
