"""Layer 0: jaxtyping aliases, masked sets, input checks, atomic JSON and the figure helper."""

from ._checks import as_2d_float as as_2d_float
from ._checks import check_choice as check_choice
from ._checks import check_dtype as check_dtype
from ._checks import check_ndim as check_ndim
from ._checks import check_positive as check_positive
from ._checks import check_positive_int as check_positive_int
from ._checks import check_same_leading_dim as check_same_leading_dim
from ._checks import check_shape as check_shape
from ._checks import concrete_value as concrete_value
from ._checks import is_concrete as is_concrete
from ._files import file_lock as file_lock
from ._files import resume_manifest as resume_manifest
from ._files import write_json as write_json
from ._masked import masked_count as masked_count
from ._masked import masked_layer_norm as masked_layer_norm
from ._masked import masked_mean as masked_mean
from ._masked import masked_softmax as masked_softmax
from ._masked import masked_sum as masked_sum
from ._masked import pad_sets as pad_sets
from ._plotting import figure as figure
from ._plotting import figure_html as figure_html
from ._typing import FloatScalar as FloatScalar
from ._typing import KeyArray as KeyArray
from ._typing import Params as Params
from ._typing import SetFeatures as SetFeatures
from ._typing import SetMask as SetMask

__all__ = [
    "FloatScalar",
    "KeyArray",
    "Params",
    "SetFeatures",
    "SetMask",
    "as_2d_float",
    "check_choice",
    "check_dtype",
    "check_ndim",
    "check_positive",
    "check_positive_int",
    "check_same_leading_dim",
    "check_shape",
    "concrete_value",
    "figure",
    "figure_html",
    "file_lock",
    "is_concrete",
    "masked_count",
    "masked_layer_norm",
    "masked_mean",
    "masked_softmax",
    "masked_sum",
    "pad_sets",
    "resume_manifest",
    "write_json",
]
