"""Durations, latencies and shares written the way people write them: "15m", "100ms", "2%".

Why a module: window sizes, alert for-durations and thresholds all accept these strings, and a
typo must be a clear ``MonitoringError`` naming the accepted forms, never a silent default.
"""

from __future__ import annotations

import re

from mlops.errors import InvalidInputError, MonitoringError


class InvalidMonitoringInputError(MonitoringError, InvalidInputError):
    """A monitoring argument is malformed (a window, a threshold, a column, the data)."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s|sec|m|min|h|d|w)\s*$", re.IGNORECASE)
_SECONDS = {
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}


def parse_duration(value: str | float | int, what: str = "duration") -> float:
    """Seconds in ``value``: a number of seconds, or a string like "100ms", "15m", "1h", "1d".

    Raises:
        InvalidMonitoringInputError: The string does not parse or the duration is not positive.
    """
    if isinstance(value, bool):
        raise InvalidMonitoringInputError(f"{what} {value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise InvalidMonitoringInputError(
                f"{what} {value!r} does not parse; write a number and a unit: "
                "'500us', '100ms', '30s', '15m', '1h', '1d' or '1w'"
            )
        seconds = float(match[1]) * _SECONDS[match[2].lower()]
    if not seconds > 0:
        raise InvalidMonitoringInputError(f"{what} {value!r} must be positive")
    return seconds


def parse_threshold(value: str | float | int, metric: str) -> float:
    """A threshold in the metric's base unit: "100ms" -> 0.1 (seconds), "2%" -> 0.02.

    Plain numbers are taken as they are (seconds for latencies, fractions for rates).

    Raises:
        InvalidMonitoringInputError: The string is neither a number, a percentage nor a duration.
    """
    if isinstance(value, bool):
        raise InvalidMonitoringInputError(f"threshold for {metric!r} is a boolean: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if text.endswith("%"):
        try:
            return float(text[:-1]) / 100.0
        except ValueError:
            raise InvalidMonitoringInputError(
                f"threshold {value!r} for {metric!r} is not a percentage like '2%'"
            ) from None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_duration(text, what=f"threshold for {metric!r}")
    except InvalidMonitoringInputError:
        raise InvalidMonitoringInputError(
            f"threshold {value!r} for {metric!r} does not parse; use a number (0.8), a percentage "
            "('2%') or a duration ('100ms', '1.5s')"
        ) from None
