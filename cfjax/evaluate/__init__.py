"""Judging explanations: verification by retraining, tables, statistics and the results writer.

  verify.py         verify(): retrain without each explanation and rank (Yao et al. eq. 2,
                    ACCENT's replacement test); summarize()
  cf_table.py       the ACCENT-style table for any explainer (CF %, size, placebo, noise floor)
  comparison.py     `compare`: explainers beside same-size placebos and the noise floor,
                    verified in one call, as a leaderboard table
  leaderboard.py    the verdicts: validity beside placebo, noise floor, interval; its markdown
  lds.py            attribution quality by the linear datamodeling score (TRAK)
  lcer_metrics.py   LCER's Val, Len, PS, PN, F_NS on amortised models
  minimality.py     how close explanations come to the exact minimal sets (`exhaustive`)
  significance.py   McNemar, one-sided paired t-test, Wilson intervals (scipy)
  metrics.py        the recommender's own accuracy (RMSE)
  topn.py           top-N accuracy: Recall@K and NDCG@K over a per-user hold-out
  describe.py       explanations and verdicts in words (raw ids, titles, ratings)
  figures.py        validity@K figures with placebo and noise-floor bands (matplotlib)
  results.py        the one results writer every pipeline uses
"""

from cfjax.evaluate import cf_table, lcer_metrics, leaderboard, significance
from cfjax.evaluate.comparison import Comparison, compare
from cfjax.evaluate.lcer_metrics import sufficiency_necessity
from cfjax.evaluate.metrics import rmse
from cfjax.evaluate.results import (ResultsDir, environment_info, markdown_table, provenance,
                                    validity_markdown, verified_rows)
from cfjax.evaluate.significance import mcnemar, paired_t_test_one_sided, wilson_interval
from cfjax.evaluate.verify import (noise_floor_warnings, rescore, summarize, summarize_by_method,
                                   verify)

__all__ = ["Comparison", "ResultsDir", "cf_table", "compare", "environment_info",
           "lcer_metrics", "leaderboard", "markdown_table",
           "mcnemar", "noise_floor_warnings", "paired_t_test_one_sided", "provenance", "rescore",
           "rmse", "significance", "sufficiency_necessity", "summarize", "summarize_by_method",
           "validity_markdown", "verified_rows", "verify", "wilson_interval"]
