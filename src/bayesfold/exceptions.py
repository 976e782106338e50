"""Exceptions and warnings raised by bayesfold.

Every exception derives from :class:`BayesfoldError`, and each also inherits the
builtin that a caller would expect (``ValueError`` or ``TypeError``), so that
``except ValueError`` keeps working. Messages state the rule that was broken,
the value that arrived and the fix.

Warnings derive from :class:`BayesfoldWarning` so that they can be filtered as a
family, e.g. ``warnings.simplefilter("ignore", bayesfold.BayesfoldWarning)``.
"""

from __future__ import annotations


class BayesfoldError(Exception):
    """Base class of every exception raised by bayesfold."""


class InputValueError(BayesfoldError, ValueError):
    """An input array has the right type but a value that breaks a rule."""


class InputTypeError(BayesfoldError, TypeError):
    """An input has the wrong type (for example a mask that is not boolean)."""


class ShapeMismatchError(InputValueError):
    """Arrays that describe the same events disagree in length or shape."""


class NonFiniteError(InputValueError):
    """A feature or weight is NaN or infinite."""


class WeightError(InputValueError):
    """Weights are negative, or sum to zero."""


class EmptySampleError(InputValueError):
    """A sample, or a selection of it, holds no events."""


class MaskError(InputValueError):
    """A selection mask selects no event."""


class MaskTypeError(InputTypeError):
    """A selection mask is not boolean."""


class FeatureCountError(InputValueError):
    """Detector-level features of simulation and data differ in number."""


class ConfigurationError(BayesfoldError, ValueError):
    """An option of a method or classifier has a value it does not accept."""


class NotFittedError(BayesfoldError, RuntimeError):
    """A classifier was asked to predict before it was fitted."""


class OutputExistsError(BayesfoldError, FileExistsError):
    """An output file or folder exists and ``overwrite`` was not given."""


class PosteriorFormatError(BayesfoldError, ValueError):
    """A file or data tree is not a posterior that bayesfold wrote, or is damaged."""


class HEPDataValidationError(BayesfoldError, ValueError):
    """The HEPData tables written for a result fail the HEPData validator."""


class BayesfoldWarning(UserWarning):
    """Base class of every warning emitted by bayesfold."""


class ClippedRatioWarning(BayesfoldWarning):
    """Many classifier outputs hit the logit clip when forming ratios."""


class LowEffectiveSampleSizeWarning(BayesfoldWarning):
    """The weights concentrate on few events (small Kish effective size)."""


class ConvergenceWarning(BayesfoldWarning):
    """A fit stopped at its iteration budget without meeting its criterion."""
