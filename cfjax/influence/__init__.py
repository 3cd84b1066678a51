"""Influence-function toolkit (Koh & Liang 2017; Yao et al. eq. 10; FIA, Cheng et al. 2019).

Exact Hessian-vector products, parameter subsets, inverse-HVP solvers (CG, LiSSA, explicit)
and the first-order change of a predicted score when a training row is removed.

  hvp.py        exact Hessian-vector products (H v, Koh & Liang sec. 3)
  inverse.py    inverse HVPs: solve (H + damping I) x = b (CG, MINRES, LiSSA, explicit)
  subset.py     parameter subsets: a few embedding rows instead of the whole model
  influence.py  the influence of training rows on one predicted score (Yao et al. eq. 10)
  batched.py    the same for many (user, target) pairs in one compiled call
"""

from cfjax.influence.batched import (full_influences, make_full_influence_fn,
                                     make_related_influence_fn, related_data,
                                     related_influences)
from cfjax.influence.hvp import make_hvp
from cfjax.influence.influence import (InfluenceResult, influence_on_prediction,
                                       make_score_change_fn, score_change_on_removal)
from cfjax.influence.inverse import (CGNotConvergedError, CGNotConvergedWarning, CGReport,
                                     cg_solve, check_converged, explicit_hessian,
                                     explicit_inverse_hvp, gauss_solve, lissa_solve,
                                     minres_solve)
from cfjax.influence.subset import ParamSubset, row_subset, target_subset

__all__ = ["CGNotConvergedError", "CGNotConvergedWarning", "CGReport", "InfluenceResult",
           "ParamSubset", "cg_solve", "check_converged", "explicit_hessian",
           "explicit_inverse_hvp", "full_influences", "gauss_solve", "influence_on_prediction",
           "lissa_solve", "make_full_influence_fn", "make_hvp", "make_related_influence_fn",
           "make_score_change_fn", "minres_solve", "related_data", "related_influences",
           "row_subset", "score_change_on_removal", "target_subset"]
