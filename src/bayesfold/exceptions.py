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


class ConfigFileError(ConfigurationError):
    """A config file is unreadable, or a key in it is missing or has a bad value.

    ``key`` is the dotted path of the key (``simulation.gen.x``), or ``""``
    when the problem concerns the whole file.
    """

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key


class UnknownConfigKeyError(ConfigFileError):
    """A config file holds a key that bayesfold does not know."""


class ExpressionError(ConfigurationError):
    """A column expression (feature, weight or cut) is malformed or not allowed."""


class _NamedKeyError(BayesfoldError, KeyError):
    """A KeyError whose message prints as written, without KeyError's quotes."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class InputFileNotFoundError(BayesfoldError, FileNotFoundError):
    """An input file named in the config does not exist."""


class InputFileFormatError(BayesfoldError, OSError):
    """An input file cannot be read in the format it was given or inferred as."""


class TreeNotFoundError(_NamedKeyError):
    """An input file has no TTree (ROOT) or group (HDF5) of the given name."""


class NotATreeError(InputTypeError):
    """The named object of an input file is not a TTree (or HDF5 group/table)."""


class BranchNotFoundError(_NamedKeyError):
    """A branch or column is not in the input file."""


class RaggedBranchError(InputValueError):
    """A branch holds a variable (or more than one) number of values per event."""


class BranchTypeError(InputTypeError):
    """A branch holds values that are not numbers (strings, objects)."""


class NonFiniteColumnError(NonFiniteError):
    """A feature or weight read from file is NaN or infinite where it is used."""


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


class DiagnosticsUnavailableError(BayesfoldError, ValueError):
    """A result lacks the diagnostics that a plot or summary asks for."""
