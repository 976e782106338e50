"""Checks of scalar settings shared by the modules that take them."""

from __future__ import annotations

import numpy as np

from bayesfold.exceptions import ConfigurationError

__all__ = ["check_integer"]


def check_integer(name: str, value: object, least: int) -> None:
    """Raise :class:`ConfigurationError` unless ``value`` is an integer >= ``least``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigurationError(f"{name} must be an integer; got {value!r}.")
    if value < least:
        raise ConfigurationError(f"{name} must be at least {least}; got {value}.")
