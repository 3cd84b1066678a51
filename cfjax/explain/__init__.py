"""Influence-based counterfactual explainers: Yao et al.'s IF baseline, FIA and ACCENT.

* `explain_influence_function`: Yao et al. eq. 10, the top-e history items by influence.
* `explain_accent_family`: ACCENT (Tran et al. 2021, Algorithm 1) and its pure FIA / FIA
  baselines (Sec. 3.3.2), from one batched FIA influence computation.
The selection rules are pure functions over influence matrices, testable by hand.
"""

from cfjax.explain.accent import (METHODS, accent_select, explain_accent_family,
                                  greedy_gap_fill)
from cfjax.explain.common import (Explanation, Selection, pad_histories, related_data,
                                  top_k_lists)
from cfjax.explain.fia import (fia_influences, fia_select, order_by_influence,
                               pure_fia_select)
from cfjax.explain.influence_fn import (explain_influence_function,
                                        influence_function_influences, select_top_e)

__all__ = ["METHODS", "Explanation", "Selection", "accent_select", "explain_accent_family",
           "explain_influence_function", "fia_influences", "fia_select", "greedy_gap_fill",
           "influence_function_influences", "order_by_influence", "pad_histories",
           "pure_fia_select", "related_data", "select_top_e", "top_k_lists"]
