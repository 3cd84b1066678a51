"""Evaluating counterfactual explanations: records, batched verification by retraining, reports."""

from cfjax.evaluate.baselines import (empty_explanation, item_embeddings, knn_explanation,
                                      random_explanation, rmse, sample_users, top1_targets)
from cfjax.evaluate.records import ExplanationRecord, VerifiedRecord, read_jsonl, write_jsonl
from cfjax.evaluate.report import (environment_info, finished_results, markdown_table,
                                   validity_markdown, write_results_dir)
from cfjax.evaluate.verify import (jitted_scores, seen_rows, summarize, summarize_by_method,
                                   user_scores_readout, verify)

__all__ = [
    "ExplanationRecord", "VerifiedRecord", "empty_explanation", "environment_info",
    "finished_results", "item_embeddings", "jitted_scores", "knn_explanation", "markdown_table",
    "random_explanation", "read_jsonl", "rmse", "sample_users", "seen_rows", "summarize",
    "summarize_by_method", "top1_targets", "user_scores_readout", "validity_markdown", "verify",
    "write_jsonl", "write_results_dir",
]

from cfjax.evaluate import accent_eval, lcer_metrics, significance, yao_eval  # noqa: E402
from cfjax.evaluate.lcer_metrics import sufficiency_necessity  # noqa: E402
from cfjax.evaluate.significance import mcnemar, paired_t_test_one_sided  # noqa: E402

__all__ += ["accent_eval", "lcer_metrics", "mcnemar", "paired_t_test_one_sided", "significance",
            "sufficiency_necessity", "yao_eval"]
