"""Another try after a failure that may pass, with exponential back-off and a cap.

Callers decide what is transient (they know their protocol) by raising `TransientError`;
everything else fails at once. The last transient failure comes out as a plain
`RegistryError`, so a caller that itself runs inside `retrying` does not multiply the tries.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pipeline.core.errors import RegistryError

T = TypeVar("T")


class TransientError(RegistryError):
    """A failure worth another try: connection refused or reset, a timeout, HTTP 5xx or 429."""


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3  # tries after the first
    first_delay: float = 0.5  # seconds; doubles each time
    max_delay: float = 8.0

    def delay(self, attempt: int) -> float:
        """Seconds before try `attempt + 1`; jittered so parallel jobs do not retry in step."""
        ceiling = min(self.max_delay, self.first_delay * 2**attempt)
        return ceiling * random.uniform(0.5, 1.0)


DEFAULT_POLICY = RetryPolicy()


def retrying(
    action: Callable[[], T],
    policy: RetryPolicy = DEFAULT_POLICY,
    note: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`action()`, again after each `TransientError` until `policy.retries` are spent."""
    retries = max(policy.retries, 0)
    for attempt in range(retries + 1):
        try:
            return action()
        except TransientError as exc:
            if attempt == retries:
                tries = "1 try" if attempt == 0 else f"{attempt + 1} tries"
                raise RegistryError(f"{exc} (gave up after {tries})") from exc
            delay = policy.delay(attempt)
            if note:
                note(f"{exc}; retrying in {delay:.1f}s ({attempt + 1}/{retries})")
            sleep(delay)
    raise AssertionError("unreachable: the loop returns or raises")
