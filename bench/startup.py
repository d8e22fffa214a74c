"""Start-up benchmark: wall and CPU time of short `python -m pipeline` runs, in fresh processes.

    .venv/bin/python bench/startup.py [--runs 20] [--json FILE]

No engine needed. Runs from the checkout's root, so `-m pipeline` imports the checkout's package.
Cases: the top-level help, one command's help, lint and config on the churn example, and two
floors that are not ours: the bare interpreter and hadolint's own run on the same Dockerfile
(lint runs it as a subprocess). The runs write and use bytecode caches (`__pycache__`, as an
installed package has), whatever PYTHONDONTWRITEBYTECODE says here: compiling our modules from
source at each start would add to every run what an installed package never pays. One untimed
run of each case first, so the caches are written; then the cases take turns, so a burst of
load on the machine spreads over all of them. Beside the wall time, each run's CPU time (user +
system, the process and its children): on a machine shared with other work it moves much less
than the wall time does.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from pipeline.lint.hadolint import Hadolint

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = "examples/churn"
FIGURES = ("median_ms", "p90_ms", "min_ms")


def cases() -> dict[str, list[str]]:
    pipeline = [sys.executable, "-m", "pipeline"]
    found = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "pipeline --help": [*pipeline, "--help"],
        "pipeline lint --help": [*pipeline, "lint", "--help"],
        "pipeline lint (churn)": [*pipeline, "-C", EXAMPLE, "lint"],
        "pipeline config (churn)": [*pipeline, "-C", EXAMPLE, "config"],
    }
    binary = Hadolint.locate().binary
    if binary is not None:
        dockerfile = f"{EXAMPLE}/Dockerfile"
        found["hadolint (churn)"] = [str(binary), "--format", "json", "--no-fail", dockerfile]
    return found


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)}: exit {result.returncode}\n{result.stderr.decode()}")
    return elapsed, _children_cpu() - cpu_before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _figures(seconds: list[float]) -> dict[str, float]:
    values = (statistics.median(seconds), statistics.quantiles(seconds, n=10)[-1], min(seconds))
    return {key: round(value * 1000, 1) for key, value in zip(FIGURES, values, strict=True)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.runs < 2:
        parser.error("--runs: at least 2 (p90 needs them)")
    commands = cases()
    load = [os.getloadavg()[0]]
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    for command in commands.values():
        timed(command, env)
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, command in commands.items():
            wall, cpu = timed(command, env)
            walls[name].append(wall)
            cpus[name].append(cpu)
    load.append(os.getloadavg()[0])
    result = {
        "runs": args.runs,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "load_average": load,
        "cases": {
            name: {"wall": _figures(walls[name]), "cpu": _figures(cpus[name])} for name in commands
        },
    }
    head = f"{args.runs} runs each, fresh processes, {result['cpus']} CPUs"
    print(f"{head}, Python {result['python']}, load average {load[0]:.1f} -> {load[1]:.1f}")
    print(f"{'':<24}{'wall ms':>24}{'CPU ms':>24}")
    print(f"{'case':<24}" + f"{'median':>8}{'p90':>8}{'min':>8}" * 2)
    for name, figures in result["cases"].items():
        row = [figures[kind][key] for kind in ("wall", "cpu") for key in FIGURES]
        print(f"{name:<24}" + "".join(f"{value:>8.1f}" for value in row))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
