"""Workflows that are not one paper's table: `run(config, workdir) -> table` pipelines
(configs in cfjax/experiments/configs) and the `cfjax explain` report, on the
`cfjax.pipeline.Run` skeleton.

  benchmark.py        the retrain-verified benchmark of every explainer (its Mult-VAE cell uses
                      `cfjax.papers.lcer`'s preparation, so this layer sits above papers)
  retrain_verify.py   the retrain-and-verify study (knn vs. placebo vs. noise floor)
  topn.py             Recall@K / NDCG@K of a recommender on a per-user hold-out
  explain_user.py     one user's recommendation explained by every method (`cfjax explain`)
"""
