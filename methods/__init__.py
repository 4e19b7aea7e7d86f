"""Networks, sharing mechanisms and the method registry.

Importing this package registers every method; later papers add a module here and import it below.
"""

from sharebench.methods import (  # noqa: F401  (registration)
    began,
    cetl,
    cetl_mcd,
    finetune,
    full_sharing,
    gan,
    hard_sharing,
    irls,
    jae,
    l2,
    lws,
)
from sharebench.methods.registry import METHODS, Method, TaskSpec, create_method, get_method, method_names

__all__ = ["METHODS", "Method", "TaskSpec", "create_method", "get_method", "method_names"]
