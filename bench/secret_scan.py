"""Secret scan benchmark: the build step's scan of a 5,000-file, 2 GB build context.

    .venv/bin/python bench/secret_scan.py [--runs 3] [--dir DIR] [--json FILE]

No engine needed. The generated context is what an ML project sends when its .dockerignore
lists only `.git`:
  - 4,850 source and config files (py, json, yaml, md, txt; 2-40 kB each), written in full;
  - 100 dataset files (csv, jsonl; 2 MB each), written in full: read whole;
  - 44 weight files (safetensors, bin, pt, onnx; 40 MB each) with their real headers, the rest
    a sparse hole, and 6 of unknown extension (.dat, 40 MB) whose first bytes are a format
    magic: the scan must judge them by name and magic without reading them;
  - 8 planted secrets, which the scan must find: 6 files, a token in the middle of a dataset
    and a key inside a .tar.gz.
Weights are sparse so the context is made in seconds; the scan never reads past their first
64 kB, so a dense file would be read the same. The page cache is warm (files just written):
the figure is the scan's own cost, not the disk's.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import tarfile
import tempfile
import time
from pathlib import Path

from pipeline.project.buildcontext import read_context
from pipeline.project.dockerignore import DockerIgnore, context_files
from pipeline.secrets import scan_context

SOURCE_FILES = 4850
DATASETS = 100
DATASET_BYTES = 2 * 10**6
WEIGHTS = 44
UNKNOWN_WEIGHTS = 6
WEIGHT_BYTES = 40 * 10**6
WORDS = (
    *("import", "numpy", "as", "np", "torch", "model", "predict", "batch", "tensor", "config"),
    *("learning", "rate", "epoch", "loss", "def", "return", "class", "self", "value", "token"),
    *("key", "secret", "password", "hf_hub_download", "sk-learn", "AKIA", "ghp_", "-----BEGIN"),
)
PLANTED = {
    "serve/id_ed25519": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA\n-----END OPENSSH "
    "PRIVATE KEY-----\n",
    "serve/.git-credentials": "https://me:token@github.com\n",
    ".env": "HF_TOKEN=hf_" + "aB3dE5gH7jK9mN1pQ2rS4tU6vW8xY0zC" + "\n",
    "serve/.huggingface/token": "hf_" + "aB3dE5gH7jK9mN1pQ2rS4tU6vW8xY0zC\n",
    "configs/deploy/kubeconfig": "users:\n- user:\n    token: abcdef\n",
    "src/pkg7/settings.py": 'GITHUB = "ghp_' + "aB3dE5gH7jK9mN1pQ2rS4tU6vW8xY0zCa1b2" + '"\n',
}
# Planted where no head-and-tail read looks: the middle of a dataset, inside an archive.
MIDDLE = "data/part3.jsonl"
ARCHIVE = "data/bundle.tar.gz"


def key_archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        key = PLANTED["serve/id_ed25519"].encode()
        info = tarfile.TarInfo("deploy/key.pem")
        info.size = len(key)
        archive.addfile(info, io.BytesIO(key))
    return buffer.getvalue()


def text(rng: random.Random, size: int) -> bytes:
    words = rng.choices(WORDS, k=size // 6)
    lines = [" ".join(words[i : i + 12]) for i in range(0, len(words), 12)]
    return ("\n".join(lines) + "\n").encode()[:size]


def make_context(root: Path, rng: random.Random) -> tuple[int, int]:
    """Writes the context; returns (files, apparent bytes)."""
    suffixes = (".py", ".json", ".yaml", ".md", ".txt")
    for index in range(SOURCE_FILES):
        path = root / "src" / f"pkg{index % 50}" / f"mod{index}{suffixes[index % 5]}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text(rng, rng.randint(2_000, 40_000)))
    block = text(rng, 1 << 20)
    for index in range(DATASETS):
        path = root / "data" / f"part{index}.{('csv', 'jsonl')[index % 2]}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            block * (DATASET_BYTES // len(block)) + block[: DATASET_BYTES % len(block)]
        )
    headers = {
        ".safetensors": b"\x40\x00\x00\x00\x00\x00\x00\x00{",
        ".bin": b"\x80\x02",
        ".pt": b"PK\x03\x04",
        ".onnx": b"\x08\x07",
    }
    for index in range(WEIGHTS + UNKNOWN_WEIGHTS):
        suffix = list(headers)[index % 4] if index < WEIGHTS else ".dat"
        path = root / "model" / f"shard-{index:05d}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            handle.write(headers.get(suffix, b"GGUF\x03\x00\x00\x00"))
            handle.truncate(WEIGHT_BYTES)
    middle = root / MIDDLE
    data = middle.read_bytes()
    middle.write_bytes(
        data[: len(data) // 2] + b"\n" + PLANTED[".env"].encode() + data[len(data) // 2 :]
    )
    (root / ARCHIVE).write_bytes(key_archive())
    for relative, content in PLANTED.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    (root / "Dockerfile").write_text("FROM python:3.11-slim\nCOPY . /app\n", encoding="utf-8")
    (root / ".dockerignore").write_text(".git\n", encoding="utf-8")
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where the context is generated (a temp dir)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="secret-scan-", dir=args.dir) as scratch:
        root = Path(scratch)
        started = time.perf_counter()
        files, size = make_context(root, random.Random(11))
        made = time.perf_counter() - started
        print(f"context: {files} files, {size / 1e9:.2f} GB apparent, made in {made:.1f} s")
        started = time.perf_counter()
        walked = sum(1 for _ in context_files(root, DockerIgnore.parse(".git\n")))
        walk = time.perf_counter() - started
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            # The walk included, as the build step reads its context before the scan.
            findings = scan_context(read_context(root / "Dockerfile", root))
            times.append(time.perf_counter() - started)
        found = sorted({finding.path for finding in findings})
        result = {
            "files": files,
            "apparent_bytes": size,
            "walk_only_seconds": round(walk, 3),
            "scan_seconds": [round(t, 3) for t in times],
            "scan_median_seconds": round(statistics.median(times), 3),
            "files_per_second": round(walked / statistics.median(times)),
            "found": found,
            "planted_found": sorted([*PLANTED, MIDDLE, ARCHIVE]) == found,
            "cpus": os.cpu_count(),
        }
    print(f"walk only (.dockerignore matching): {walk:.2f} s for {walked} files")
    print(f"scan, {args.runs} runs: " + ", ".join(f"{t:.2f} s" for t in times))
    print(
        f"median {result['scan_median_seconds']} s; planted secrets all found: "
        f"{result['planted_found']} ({len(found)} files)"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if result["planted_found"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
