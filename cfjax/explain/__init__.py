"""Counterfactual explainers, one module per method.

* `explain_influence_function`: Yao et al. eq. 10, the top-e history items by influence.
* `explain_accent_family`: ACCENT (Tran et al. 2021, Algorithm 1) and its pure FIA / FIA
  baselines (Sec. 3.3.2), from one batched FIA influence computation.
* `surrogate`, `surrogate_models`, `search`, `knn`: Yao et al.'s learned surrogates (eqs. 8-9).
* `lcer`, `lcer_baselines`, `kaffes`: LCER (Wen et al.) on Mult-VAE, its FIA/ACCENT
  adaptations and the KaffesCE reconstruction.
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

from cfjax.explain import (kaffes, knn, lcer, lcer_baselines, search, surrogate,  # noqa: E402
                          surrogate_models)
from cfjax.explain.kaffes import kaffes_explain  # noqa: E402
from cfjax.explain.knn import explain_knn  # noqa: E402
from cfjax.explain.lcer import make_lcer  # noqa: E402
from cfjax.explain.lcer_baselines import explain_fia_accent  # noqa: E402
from cfjax.explain.search import explain as explain_surrogate  # noqa: E402
from cfjax.explain.surrogate import fit_surrogate, heldout_metrics  # noqa: E402

__all__ = ["explain_fia_accent", "explain_knn", "explain_surrogate", "fit_surrogate",
           "heldout_metrics", "kaffes", "kaffes_explain", "knn", "lcer", "lcer_baselines",
           "make_lcer", "search", "surrogate", "surrogate_models"]
__all__ += ["METHODS", "Explanation", "Selection", "accent_select", "explain_accent_family",
           "explain_influence_function", "fia_influences", "fia_select", "greedy_gap_fill",
           "influence_function_influences", "order_by_influence", "pad_histories",
           "pure_fia_select", "related_data", "select_top_e", "top_k_lists"]
