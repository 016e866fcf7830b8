"""The A/B test errors, where the domain imports them from.

They are defined in ``mlops.errors`` (``ExperimentError`` crossed with the kinds), so a client of
an mlops server rebuilds the exact class from an error response, as it does for the others.
"""

from mlops.errors import (
    ABTestError,
    ABTestExistsError,
    ABTestNotFoundError,
    ABTestStateError,
    InvalidABTestError,
)

__all__ = [
    "ABTestError",
    "ABTestExistsError",
    "ABTestNotFoundError",
    "ABTestStateError",
    "InvalidABTestError",
]
