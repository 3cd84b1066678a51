"""Yao, Wang and Li, "Learning to Counterfactually Explain Recommendations": Tables 3 and 2 and
the ablations of sec. 6.3, one module each, on one preparation (`preparation.py`).

  preparation.py  settings, the split, the original, the simulation (Algorithm 2), the surrogates
  table3.py       Table 3: every method's explanations verified by retraining (`run_table3`)
  table2.py       Table 2: seconds per explanation, one at a time and batched (`run_table2`)
  ablations.py    sec. 6.3: Table 3 under other targets, DeepSets, 40 % deletions
"""

from cfjax.papers.yao.ablations import ABLATION_ORDER, ablation_rows, run_ablations, variant_config
from cfjax.papers.yao.preparation import (KS, LABELS, MODELS, ModelSettings, Prepared, Setup,
                                          check_config, eligibility_note, load, min_history_of,
                                          model_settings, models_of, prepare, setup,
                                          surrogate_explainer)
from cfjax.papers.yao.table2 import run_table2, time_explainers
from cfjax.papers.yao.table3 import explain_table3, run_table3, table3_markdown, table3_model
