"""Credentials inside URLs never reach a message, warning, error or report."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.core.redact import mask_credentials
from pipeline.smoke.checks import Check
from pipeline.smoke.report import SmokeReport, write_json, write_junit
from tests.support.project import run_pipeline

TOKEN = "glpat-" + "Zq8" * 7


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"https://oauth2:{TOKEN}@gitlab.com/g/p.git", "https://***@gitlab.com/g/p.git"),
        (f"git+https://{TOKEN}@github.com/o/r", "git+https://***@github.com/o/r"),
        (
            "from http://u:p@a.example/x and ssh://git:pw@b.example:22/y",
            "from http://***@a.example/x and ssh://***@b.example:22/y",
        ),
        ("https://me:p@ss@host.example/x", "https://***@host.example/x"),
        ("git@github.com:o/r.git and https://example.com/a@b", None),
    ],
)
def test_mask_credentials(text: str, masked: str | None) -> None:
    assert mask_credentials(text) == (masked or text)


def test_split_warnings_mask_requirement_urls(tmp_path: Path) -> None:
    url = f"git+https://oauth2:{TOKEN}@gitlab.example.com/mirror/torch.git"
    (tmp_path / "requirements.txt").write_text(f"torch @ {url}\nfastapi\n", encoding="utf-8")
    for argv in (("split", "--dry-run"), ("split", "--dry-run", "--json")):
        result = run_pipeline(tmp_path, *argv)
        assert result.returncode == 0, result.stderr
        assert "torch is not pinned" in result.stderr
        assert "git+https://***@gitlab.example.com/mirror/torch.git" in result.stderr
        assert TOKEN not in result.stdout + result.stderr
    assert "***@gitlab.example.com" in run_pipeline(tmp_path, "split", "--dry-run", "--json").stdout


def test_errors_mask_urls(tmp_path: Path) -> None:
    url = f"https://user:{TOKEN}@pypi.example.com/req.txt"
    (tmp_path / "requirements.txt").write_text(f"-r {url}\n", encoding="utf-8")
    result = run_pipeline(tmp_path, "split")
    assert result.returncode == 1
    assert "https://***@pypi.example.com/req.txt: remote includes are not supported" in (
        result.stderr
    )
    assert TOKEN not in result.stderr


def test_smoke_reports_mask_urls(tmp_path: Path) -> None:
    report = SmokeReport(image="registry.example.com/m:1")
    report.checks.append(
        Check("pull", "failed", message=f"cannot pull from https://robot:{TOKEN}@registry.example")
    )
    report.logs_tail = [f"downloading https://x:{TOKEN}@models.example/w.bin"]
    write_json(report, tmp_path / "report.json")
    write_junit(report, tmp_path / "junit.xml")
    for name in ("report.json", "junit.xml"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert TOKEN not in text
        assert "https://***@registry.example" in text
