"""The smoke test: run the candidate image and check that it serves (GPU, health, sample
predictions, latency, graceful shutdown). `run_smoke` is what the release step calls."""

from pipeline.smoke.report import SmokeReport
from pipeline.smoke.run import SmokeFailed, run_smoke

__all__ = ["SmokeFailed", "SmokeReport", "run_smoke"]
