"""Settings read from the environment, validated before anything else starts."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

LOG_LEVELS = ("debug", "info", "warning", "error")
DEFAULT_MODEL_PATH = "/models/model"

T = TypeVar("T")


class ConfigError(Exception):
    """One or more variables hold values the app cannot run with; one line per variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    model_path: Path
    batch_size: int
    confidence_threshold: float
    log_level: str
    host: str
    port: int
    shutdown_grace_seconds: int
    # Test aid: keeps /health at 503 this long after the warm-up, so the loading phase can be
    # observed deterministically. Always 0 in production images.
    warmup_delay_seconds: float

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Parse every variable, then raise once with all problems so one run shows them all."""
        reader = _Reader(env)
        settings = cls(
            model_path=Path(reader.get("MODEL_PATH", DEFAULT_MODEL_PATH, _non_empty, "a path")),
            batch_size=reader.get("BATCH_SIZE", "32", _int_in(1, None), "an integer > 0"),
            confidence_threshold=reader.get(
                "CONFIDENCE_THRESHOLD", "0.5", _float_in(0.0, 1.0), "a number in [0, 1]"
            ),
            log_level=reader.get(
                "LOG_LEVEL", "info", _one_of(LOG_LEVELS), "one of " + ", ".join(LOG_LEVELS)
            ),
            host=reader.get("HOST", "0.0.0.0", _non_empty, "a host name or IP address"),
            port=reader.get("PORT", "8080", _int_in(1, 65535), "an integer in 1..65535"),
            shutdown_grace_seconds=reader.get(
                "SHUTDOWN_GRACE_SECONDS", "30", _int_in(0, None), "an integer >= 0"
            ),
            warmup_delay_seconds=reader.get(
                "SERVE_WARMUP_DELAY", "0", _float_in(0.0, None), "a number of seconds >= 0"
            ),
        )
        if reader.problems:
            raise ConfigError(reader.problems)
        return settings


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self.problems: list[str] = []

    def get(self, name: str, default: str, parse: Callable[[str], T], allowed: str) -> T:
        raw = self._env.get(name, default)
        try:
            return parse(raw)
        except ValueError:
            self.problems.append(f"{name}={raw!r} is invalid: expected {allowed}")
            # A placeholder keeps construction going so every bad variable gets reported;
            # from_env raises before the object escapes.
            return parse(default)


def _non_empty(raw: str) -> str:
    if not raw.strip():
        raise ValueError(raw)
    return raw


def _int_in(low: int, high: int | None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw.strip())
        if value < low or (high is not None and value > high):
            raise ValueError(raw)
        return value

    return parse


def _float_in(low: float, high: float | None) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = float(raw.strip())
        if not math.isfinite(value) or value < low or (high is not None and value > high):
            raise ValueError(raw)
        return value

    return parse


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(raw)
        return value

    return parse
