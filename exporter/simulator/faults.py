"""Deterministic fault injection: one seeded draw per eligible request picks at most one fault."""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any

# Fault kinds, in the order their rates are stacked on the [0, 1) draw. Stats use these names.
KINDS = ("429", "500", "502", "503", "504", "reset", "slow", "truncated", "html")


@dataclass(frozen=True)
class FaultConfig:
    """Rates are fractions 0..1 of API requests; their sum must not exceed 1."""

    rate_429: float = 0.0
    retry_after: int = 1  # seconds; 0 sends "Retry-After: 0"
    rate_500: float = 0.0
    rate_502: float = 0.0
    rate_503: float = 0.0
    rate_504: float = 0.0
    rate_reset: float = 0.0  # close the connection without answering
    rate_slow: float = 0.0
    slow_seconds: float = 2.0
    rate_truncated: float = 0.0  # 200 with the JSON body cut in half
    rate_html: float = 0.0  # 200 text/html login page (a proxy's SSO redirect target)
    latency_ms: int = 0  # fixed added latency on every API request
    apply_to_auth: bool = False  # also inject on token/login endpoints

    def __post_init__(self) -> None:
        total = 0.0
        for kind in KINDS:
            rate = getattr(self, f"rate_{kind}")
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"rate_{kind} must be between 0 and 1, got {rate}")
            total += rate
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to {total:.3f}, more than 1")
        if self.retry_after < 0 or self.latency_ms < 0 or self.slow_seconds < 0:
            raise ValueError("retry_after, latency_ms and slow_seconds must be >= 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultInjector:
    def __init__(self, config: FaultConfig, seed: int) -> None:
        self._seed = seed
        self._lock = threading.Lock()
        self.set(config)

    def set(self, config: FaultConfig) -> None:
        with self._lock:
            self.config = config
            self._rng = random.Random(f"faults:{self._seed}")

    def draw(self, is_auth: bool) -> str | None:
        """The fault to inject on this request, or None."""
        config = self.config
        if is_auth and not config.apply_to_auth:
            return None
        with self._lock:
            x = self._rng.random()
        edge = 0.0
        for kind in KINDS:
            edge += getattr(config, f"rate_{kind}")
            if x < edge:
                return kind
        return None
