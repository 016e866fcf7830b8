"""How a model server behaves: batching, body limit, registry polling, monitoring queue."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from mlops.errors import InvalidInputError

__all__ = ["ServingOptions"]


@dataclass(frozen=True)
class ServingOptions:
    """Settings of one model server.

    Attributes:
        max_batch_size: Most rows grouped into one ``predict`` call.
        max_wait_ms: Longest a request waits for others to join its batch (only under load).
        max_body_size: Largest request body accepted, in bytes (else 413).
        poll_interval: Seconds between registry checks for a moved alias or stage (0: never).
        monitor_queue_size: Predictions the monitoring hook holds before it samples.
    """

    max_batch_size: int = 64
    max_wait_ms: float = 2.0
    max_body_size: int = 10 * 1024 * 1024
    poll_interval: float = 5.0
    monitor_queue_size: int = 10_000

    def __post_init__(self) -> None:
        checks = {
            "max_batch_size": self.max_batch_size >= 1,
            "max_wait_ms": self.max_wait_ms >= 0,
            "max_body_size": self.max_body_size >= 1,
            "poll_interval": self.poll_interval >= 0,
            "monitor_queue_size": self.monitor_queue_size >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise InvalidInputError(
                "serving option(s) out of range: "
                + ", ".join(f"{n}={getattr(self, n)!r}" for n in bad)
            )

    def to_json(self) -> str:
        """For worker processes, which rebuild the options from the environment."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServingOptions:
        try:
            return cls(**json.loads(text))
        except (json.JSONDecodeError, TypeError) as exc:
            raise InvalidInputError(f"malformed serving options {text!r}: {exc}") from exc
