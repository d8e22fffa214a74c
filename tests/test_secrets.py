"""The build context's secret scan: what it flags, what it leaves, how it reads, how it reports.

Engine-free: the scan reads files, and `lint` runs it as a real subprocess. The secret values
are assembled at run time so that no scanner takes this file for a leak.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipeline.core.errors import CheckFailed
from pipeline.project.buildcontext import BuildContext, read_context
from pipeline.secrets import check_build_context, scan_context
from pipeline.secrets.detect import SECRET_NAMES, SECRET_WHEN
from pipeline.secrets.scan import CHUNK, WHOLE_LIMIT
from tests.support.project import run_pipeline

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_IGNORE = REPO_ROOT / "dockerfiles" / "common" / ".dockerignore"
ALNUM = "aB3dE5gH7jK9mN1pQ2rS4tU6vW8xY0zC"

GITHUB = "ghp_" + ALNUM + "a1b2"
HF = "hf_" + ALNUM + "Qz"
OPENAI = "sk-" + (ALNUM * 2)[:48]
AWS_KEY = "AKIA" + "Q7RSTUVWXYZ23456"
AWS_SECRET = (ALNUM + "abcdefgh")[:40]
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"


def pem(kind: str) -> str:
    label = f"{kind} PRIVATE KEY" if kind else "PRIVATE KEY"
    return f"-----BEGIN {label}-----\n{PEM_BODY}-----END {label}-----\n"


# Every kind the build must refuse: path in the context -> content. The first six are the
# files the issue found pushed in a real image.
SECRETS = {
    "serve/id_ed25519": pem("OPENSSH"),
    "serve/.git-credentials": "https://someone:" + GITHUB + "@github.com\n",
    "serve/sa-key.json": '{"type": "service_account", "project_id": "p", "private_key": "'
    + pem("").replace("\n", "\\n")
    + '"}\n',
    "serve/.huggingface/token": HF + "\n",
    "serve/kubeconfig": "apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n"
    "    token: " + ALNUM + "\n",
    "serve/.ssh/deploy_key": pem("OPENSSH"),
    ".env": "DEBUG=1\nHF_TOKEN=" + HF + "\nDATABASE_PASSWORD='hunter2hunter2'\n",
    "id_rsa": pem("RSA"),
    "certs/server.pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    + pem("EC"),
    "keys/legacy.pem": pem("DSA"),
    "keys/locked.pem": pem("ENCRYPTED"),
    "keys/deploy.ppk": "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n",
    "keys/putty.txt": "PuTTY-User-Key-File-2: ssh-rsa\n",
    ".aws/credentials": "[default]\naws_access_key_id = " + AWS_KEY + "\n",
    "config/aws.ini": "aws_secret_access_key = " + AWS_SECRET + "\n",
    ".cache/huggingface/token": HF + "\n",
    ".netrc": "machine example.com login me password " + ALNUM + "\n",
    ".pypirc": "[pypi]\nusername = __token__\npassword = pypi-" + ALNUM + "\n",
    ".npmrc": "//registry.npmjs.org/:_authToken=npm_" + ALNUM + "\n",
    ".docker/config.json": '{"auths": {"ghcr.io": {"auth": "dXNlcjpwYXNz"}}}\n',
    "deploy/prod.kubeconfig": "users:\n- user:\n    client-key-data: " + ALNUM + "\n",
    "azure/storage.txt": "DefaultEndpointsProtocol=https;AccountName=a;AccountKey="
    + ALNUM
    + "==;\n",
    "azure/sp.json": '{"clientId": "x", "clientSecret": "' + ALNUM + '"}\n',
    "serve/settings.py": f'GITHUB = "{GITHUB}"\nOPENAI = "{OPENAI}"\n',
    "serve/notes.md": "gitlab: glpat-" + ALNUM[:20] + "\nslack: xoxb-" + ALNUM + "\n",
    "serve/billing.py": 'STRIPE = "sk_live_' + ALNUM + '"\n',
    "serve/pat.txt": "github_pat_" + (ALNUM * 3)[:60] + "\n",
    "serve/session.sh": "export AWS_ACCESS_KEY_ID=ASIA" + "Q7RSTUVWXYZ23456\n",
}
SECRET_VALUES = [GITHUB, HF, OPENAI, AWS_KEY, AWS_SECRET, ALNUM, "hunter2hunter2"]

# Files that look close but hold nothing secret: none may be flagged.
HARMLESS = {
    ".env.example": "HF_TOKEN=hf_your_token_here\nDATABASE_PASSWORD=\n",
    "serve/.env": "DEBUG=1\nLOG_LEVEL=info\nAPI_KEY=${API_KEY}\nTOKEN=\n",
    "serve/id_ed25519.pub": "ssh-ed25519 AAAAC3Nza me@host\n",
    "serve/.ssh/known_hosts": "github.com ssh-ed25519 AAAAC3Nza\n",
    "certs/ca.pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    "serve/.npmrc": "registry=https://registry.npmjs.org/\n",
    "serve/.pypirc": "[distutils]\nindex-servers = pypi\n",
    "serve/.docker/config.json": '{"auths": {"ghcr.io": {}}, "credsStore": "desktop"}\n',
    "serve/docs.md": "AWS's sample key AKIAIOSFODNN7EXAMPLE; call hf_hub_download(); sk-learn\n",
    "serve/app.py": "import os\nTOKEN = os.environ['HF_TOKEN']\n",
}
DOCKERFILE = "FROM python:3.11-slim@sha256:" + "0" * 64 + "\nCOPY . /app\n"


def make_context(root: Path, files: dict[str, str], ignore: str | None = ".git\n") -> Path:
    for relative, text in {"Dockerfile": DOCKERFILE, **files}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if ignore is not None:
        (root / ".dockerignore").write_text(ignore, encoding="utf-8")
    return root


def sent(context: Path) -> BuildContext:
    """What a build of the context's own Dockerfile sends."""
    return read_context(context / "Dockerfile", context)


def flagged(context: Path) -> set[str]:
    return {finding.path for finding in scan_context(sent(context))}


def test_every_kind_of_secret_is_found(tmp_path: Path) -> None:
    context = make_context(tmp_path, SECRETS)
    assert flagged(context) == set(SECRETS)


def test_lookalikes_are_not_secrets(tmp_path: Path) -> None:
    context = make_context(tmp_path, HARMLESS)
    assert flagged(context) == set()


def test_an_env_key_that_is_the_word_alone_is_a_secret_and_a_placeholder_is_not(
    tmp_path: Path,
) -> None:
    env = "API_KEY=abcdefgh12345\nACCESS_KEY=${ACCESS_KEY}\nPWD=/app\nTOKENIZER=bert-base\n"
    context = make_context(tmp_path, {".env": env})
    findings = scan_context(sent(context))
    assert [f.describe() for f in findings] == ["line 1: .env entry API_KEY (****, 13 characters)"]


def test_findings_name_the_line_and_never_the_value(tmp_path: Path) -> None:
    context = make_context(tmp_path, SECRETS)
    findings = scan_context(sent(context))
    env = [f.describe() for f in findings if f.path == ".env"]
    assert env == [
        "line 2: .env entry HF_TOKEN (hf_****, 37 characters)",
        "line 3: .env entry DATABASE_PASSWORD (****, 14 characters)",
    ]
    settings = {f.line: f.summary() for f in findings if f.path == "serve/settings.py"}
    assert settings == {
        1: "GitHub token (ghp_****, 40 characters)",
        2: "OpenAI API key (sk-****, 51 characters)",
    }
    text = "\n".join(f.describe() + f.fix() for f in findings)
    for value in SECRET_VALUES:
        assert value not in text


def test_the_suggested_lines_exclude_every_file(tmp_path: Path) -> None:
    context = make_context(tmp_path, SECRETS)
    lines = {f.ignore_line for f in scan_context(sent(context))}
    assert {"**/id_ed25519*", "**/.ssh", "**/.huggingface/token", "**/kubeconfig"} <= lines
    assert "serve/settings.py" in lines  # a secret inside code: that file, or edit it
    with (context / ".dockerignore").open("a", encoding="utf-8") as handle:
        handle.write("\n".join(sorted(str(line) for line in lines)) + "\n")
    assert flagged(context) == set()


# Secrets inside ordinary files (code, notes, JSON): only their own path or an edit removes them.
CONTENT_ONLY = {
    "serve/sa-key.json",
    "keys/putty.txt",
    "config/aws.ini",
    "azure/storage.txt",
    "azure/sp.json",
    "serve/settings.py",
    "serve/notes.md",
    "serve/billing.py",
    "serve/pat.txt",
    "serve/session.sh",
}
# Sets off every rule that reads a named file's content.
ANY_CREDENTIAL = 'TOKEN=abcdefgh12345\npassword = x\n_authToken=x\n"auth": "x"\ntoken: x\n'


def test_the_template_dockerignore_covers_every_kind(tmp_path: Path) -> None:
    named = {
        f"sub/{glob.replace('*', 'x')}": ANY_CREDENTIAL
        for glob in [*SECRET_NAMES, *SECRET_WHEN, ".ssh/deploy", ".gnupg/key"]
    }
    covered = {path: text for path, text in SECRETS.items() if path not in CONTENT_ONLY}
    context = make_context(tmp_path, named | covered)
    assert flagged(context) == set(named | covered)
    (context / ".dockerignore").write_text(TEMPLATE_IGNORE.read_text(), encoding="utf-8")
    assert flagged(context) == set()


def test_dockerignore_semantics_decide_what_is_scanned(tmp_path: Path) -> None:
    ignore = "**/.env\n!keep/.env\nsecrets\n!secrets/public.txt\nDockerfile\n.dockerignore\n"
    files = {
        "a/b/.env": "TOKEN=abcdefgh12345\n",
        "keep/.env": "TOKEN=abcdefgh12345\n",
        "secrets/id_rsa": pem("RSA"),
        "secrets/public.txt": GITHUB + "\n",
    }
    context = make_context(tmp_path, files, ignore=ignore)
    # The Dockerfile is sent even when .dockerignore lists it, so a token in it is found too.
    (context / "Dockerfile").write_text(DOCKERFILE + f"ENV HF_TOKEN={HF}\n", encoding="utf-8")
    findings = scan_context(sent(context))
    assert {f.path for f in findings} == {"keep/.env", "secrets/public.txt", "Dockerfile"}
    dockerfile = next(f for f in findings if f.path == "Dockerfile")
    assert (dockerfile.line, dockerfile.ignore_line) == (3, None)
    assert "always sends" in dockerfile.fix()


def test_the_buildkit_ignore_file_beside_the_dockerfile_wins(tmp_path: Path) -> None:
    context = make_context(tmp_path, {"id_rsa": pem("RSA")}, ignore=".git\n")
    (context / "Dockerfile.dockerignore").write_text("id_rsa\n", encoding="utf-8")
    assert flagged(context) == set()


def test_large_and_binary_files_are_read_within_budget(tmp_path: Path) -> None:
    context = make_context(tmp_path, {})
    big = context / "data" / "train.csv"
    big.parent.mkdir()
    filler = b"a,b,c\n" * ((WHOLE_LIMIT + 4 * CHUNK) // 6)
    big.write_bytes(b"x," + GITHUB.encode() + b"\n" + filler + HF.encode() + b"\n")
    weights = context / "model" / "model.safetensors"
    weights.parent.mkdir()
    weights.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}" + GITHUB.encode())
    (context / "model" / "blob").write_bytes(b"\0\1\2" + GITHUB.encode())
    findings = scan_context(sent(context))
    assert [(f.path, f.what, f.line) for f in findings] == [
        ("data/train.csv", "GitHub token", 1),
        ("data/train.csv", "Hugging Face token", None),  # in the tail: no line count there
    ]


def test_links_and_fifos_are_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "token.txt").write_text(GITHUB, encoding="utf-8")
    context = make_context(tmp_path / "ctx", {})
    (context / "linked.txt").symlink_to(outside / "token.txt")
    os.mkfifo(context / "pipe.txt")
    assert flagged(context) == set()


def test_the_build_gate_fails_with_every_file_and_exit_2(tmp_path: Path) -> None:
    context = make_context(tmp_path, SECRETS)
    with pytest.raises(CheckFailed) as caught:
        check_build_context(sent(context))
    assert caught.value.exit_code == 2
    message = str(caught.value)
    for path in SECRETS:
        assert f"\n  {path}: " in message
    assert "add `**/id_ed25519*` to .dockerignore" in message
    for value in SECRET_VALUES:
        assert value not in message
    clean = make_context(tmp_path / "clean", HARMLESS)
    check_build_context(sent(clean))


def test_lint_reports_the_same_findings(tmp_path: Path) -> None:
    context = make_context(tmp_path, SECRETS)
    (context / "pipeline.yaml").write_text("lint:\n  hadolint: false\n", encoding="utf-8")
    result = run_pipeline(context, "lint", "--json")
    assert result.returncode == 2, result.stderr
    findings = json.loads(result.stdout)["findings"]
    secret_files = {f["file"] for f in findings if f["id"] == "ML012"}
    assert secret_files == set(SECRETS)
    for value in SECRET_VALUES:
        assert value not in result.stdout + result.stderr
