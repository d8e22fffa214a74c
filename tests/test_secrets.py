"""The build context's secret scan: what it flags, what it leaves, how it reads, how it reports.

Engine-free: the scan reads files, and `lint` runs it as a real subprocess. The secret values
are assembled at run time so that no scanner takes this file for a leak.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from pipeline.core.errors import CheckFailed
from pipeline.project.buildcontext import BuildContext, read_context
from pipeline.secrets import check_build_context, scan_context
from pipeline.secrets.detect import SECRET_NAMES, SECRET_WHEN
from pipeline.secrets.scan import ARCHIVE_LIMIT, CHUNK
from tests.support.project import GIT_IDENTITY, run_pipeline

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
ANY_CREDENTIAL = (
    'TOKEN=abcdefgh12345\npassword = x\n_authToken=x\n"auth": "x"\ntoken: x\n'
    "aws_secret_access_key = abcdefgh12345\n"
)


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


def test_large_and_binary_files_are_read_whole_but_weights_by_name(tmp_path: Path) -> None:
    context = make_context(tmp_path, {})
    big = context / "data" / "train.csv"
    big.parent.mkdir()
    filler = b"a,b,c\n" * ((2 * CHUNK) // 6)  # past two chunks: the key sits far from both ends
    big.write_bytes(b"x," + GITHUB.encode() + b"\n" + filler + pem("RSA").encode() + filler)
    weights = context / "model" / "model.safetensors"
    weights.parent.mkdir()
    weights.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}" + GITHUB.encode())
    (context / "model" / "blob").write_bytes(b"\0\1\2" + GITHUB.encode())
    findings = scan_context(sent(context))
    assert [(f.path, f.what, f.line) for f in findings] == [
        ("data/train.csv", "GitHub token", 1),
        ("data/train.csv", "private key (PEM)", 2 + filler.count(b"\n")),
        ("model/blob", "GitHub token", 1),  # a binary file is read too, a weights format is not
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


def openssl_key(tmp_path: Path, name: str, *args: str) -> bytes:
    """A fresh private key in DER, as `openssl` writes it."""
    pem_file, der_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.der"
    subprocess.run(["openssl", "genpkey", *args, "-out", pem_file], check=True)
    convert = ["openssl", "pkey", "-in", pem_file, "-outform", "DER", "-out", der_file]
    if name == "encrypted":
        convert = ["openssl", "pkcs8", "-topk8", "-in", pem_file, "-outform", "DER"]
        convert += ["-passout", "pass:pw", "-out", der_file]
    subprocess.run(convert, check=True)
    return der_file.read_bytes()


def test_a_der_private_key_is_found_and_a_der_certificate_is_not(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    ders = {
        "rsa": openssl_key(keys, "rsa", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"),
        "ec": openssl_key(keys, "ec", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"),
        "ed25519": openssl_key(keys, "ed25519", "-algorithm", "ED25519"),
        "encrypted": openssl_key(keys, "encrypted", "-algorithm", "ED25519"),
    }
    context = make_context(tmp_path / "ctx", {})
    for name, der in ders.items():
        (context / f"{name}.key.der").write_bytes(der)
    certificate = ["openssl", "req", "-x509", "-new", "-key", keys / "rsa.pem", "-subj", "/CN=t"]
    subprocess.run([*certificate, "-outform", "DER", "-out", context / "server.crt"], check=True)
    (context / "dump.bin.data").write_bytes(ders["rsa"][:-5])  # cut short: no key
    found = {f.path: f.what for f in scan_context(sent(context))}
    assert found == {
        "ec.key.der": "EC private key (DER)",
        "ed25519.key.der": "private key (PKCS#8 DER)",
        "encrypted.key.der": "encrypted private key (PKCS#8 DER)",
        "rsa.key.der": "RSA private key (DER)",
    }


def test_a_password_in_a_url_of_a_reincluded_env_file_is_found_and_the_fix_names_the_line(
    tmp_path: Path,
) -> None:
    env = "DEBUG=0\nDATABASE_URL=postgres://app:" + ALNUM + "@db.internal:5432/prod\n"
    harmless = "DOCS_URL=https://user:${PASSWORD}@example.com\nHOME_URL=https://example.com\n"
    context = make_context(
        tmp_path,
        {".env.production": env, "serve/.env": harmless},
        ignore=".git\n.env*\n!.env.production\n",
    )
    findings = scan_context(sent(context))
    assert [(f.path, f.describe()) for f in findings] == [
        (
            ".env.production",
            "line 2: .env entry DATABASE_URL: password in a URL (****, 32 characters)",
        )
    ]
    assert findings[0].fix().startswith("remove the line `!.env.production` from .dockerignore")
    (context / "pipeline.yaml").write_text("lint:\n  hadolint: false\n", encoding="utf-8")
    result = run_pipeline(context, "lint", "--json")
    assert result.returncode == 2, result.stderr
    [ml012] = [f for f in json.loads(result.stdout)["findings"] if f["id"] == "ML012"]
    assert (ml012["file"], ml012["line"]) == (".env.production", 2)
    assert "remove the line `!.env.production`" in ml012["fix"]
    assert ALNUM not in result.stdout + result.stderr


def test_a_token_in_an_index_url_is_told_to_use_a_build_secret(tmp_path: Path) -> None:
    requirements = (
        "--extra-index-url https://__token__:glpat-" + ALNUM[:20] + "@gitlab.example.com/simple\n"
        "-i https://pypi.org/simple\nnumpy==2.1.0\n"
    )
    pip_conf = "[global]\nindex-url = https://ci:" + ALNUM + "@nexus.example.com/simple\n"
    context = make_context(tmp_path, {"requirements.txt": requirements, "pip.conf": pip_conf})
    findings = scan_context(sent(context))
    assert {(f.path, f.line) for f in findings} == {("requirements.txt", 1), ("pip.conf", 2)}
    for finding in findings:
        assert "build secret" in finding.fix() and "PIP_EXTRA_INDEX_URL" in finding.fix()
        assert ".dockerignore" not in finding.fix()


def tar_of(files: dict[str, bytes], mode: str = "w") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zip_of(files: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_keys_inside_archives_are_found_by_member(tmp_path: Path) -> None:
    key = pem("RSA").encode()
    clean = {"README.md": b"# data\n", "rows.csv": b"a,b\n1,2\n"}
    archives = {
        "data/plain.tar": tar_of({**clean, "keys/id_rsa": key}),
        "data/packed.tar.gz": tar_of({**clean, "notes.txt": b"x\n" + GITHUB.encode()}, "w:gz"),
        "data/stored.zip": zip_of({**clean, "deploy.pem": key}),
        "data/deflated.zip": zip_of({".env": b"HF_TOKEN=" + HF.encode()}, zipfile.ZIP_DEFLATED),
        "data/nested.tgz": tar_of({"inner.zip": zip_of({"a/b.txt": key})}, "w:gz"),
        "data/clean.tar.gz": tar_of(clean, "w:gz"),
        "data/bundle.dat": zip_of({"x.py": b"T = '" + OPENAI.encode() + b"'\n"}),  # by magic
    }
    context = make_context(tmp_path, {})
    for name, data in archives.items():
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_bytes(data)
    found = [f.path + ": " + f.describe() for f in scan_context(sent(context))]
    assert found == [
        "data/bundle.dat: in x.py, line 1: OpenAI API key (sk-****, 51 characters)",
        "data/deflated.zip: in .env, line 1: .env entry HF_TOKEN (hf_****, 37 characters)",
        "data/nested.tgz: in inner.zip:a/b.txt, line 1: private key (PEM)",
        "data/packed.tar.gz: in notes.txt, line 2: GitHub token (ghp_****, 40 characters)",
        "data/plain.tar: in keys/id_rsa: SSH private key",
        "data/stored.zip: in deploy.pem, line 1: private key (PEM)",
    ]


def test_an_archive_past_the_bound_is_a_finding_not_a_silent_pass(tmp_path: Path) -> None:
    context = make_context(tmp_path, {})
    (context / "bomb.zip").write_bytes(
        zip_of({f"part{i}": b"\0" * (ARCHIVE_LIMIT // 3) for i in range(4)}, zipfile.ZIP_DEFLATED)
    )
    [finding] = scan_context(sent(context))
    assert finding.what.startswith("archive larger than the scan reads (1 GiB")


def test_settings_and_documented_examples_are_not_secrets(tmp_path: Path) -> None:
    files = {
        "model.env": "MAX_TOKENS=512\nHF_TOKENIZER=bert-base-uncased\nTOKEN_LIMIT=4096\n"
        "PASSWORD_FILE=/run/secrets/db\nAWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n"
        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
        ".aws/credentials": "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
        "docs/aws.md": "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
    }
    context = make_context(tmp_path, files)
    assert flagged(context) == set()
    (context / "pipeline.yaml").write_text("lint:\n  hadolint: false\n", encoding="utf-8")
    result = run_pipeline(context, "lint", "--json")
    assert result.returncode == 0, result.stdout
    (context / "model.env").write_text("HF_TOKEN=" + HF + "\n", encoding="utf-8")
    assert flagged(context) == {"model.env"}


def git_project(root: Path, files: dict[str, str], config: str) -> Path:
    project = make_context(root, files)
    (project / "pipeline.yaml").write_text(config, encoding="utf-8")
    (project / "VERSION").write_text("0.1.0\n", encoding="utf-8")
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=project, check=True)
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    subprocess.run(
        ["git", "commit", "-qm", "init"],
        cwd=project,
        check=True,
        env={**os.environ, **GIT_IDENTITY},
    )
    return project


NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent.sock"}


def test_the_allow_list_reaches_lint_and_build_and_names_one_finding(tmp_path: Path) -> None:
    files = {"model.env": "API_KEY=not-a-secret-but-named-so\n", "fixtures/fake.py": GITHUB}
    config = "lint:\n  hadolint: false\nregistry:\n  url: localhost:5999\n"
    project = git_project(tmp_path, files, config)
    built = run_pipeline(project, "build", env=NO_ENGINE)
    assert built.returncode == 2, built.stderr
    assert "holds secrets" in built.stderr and "nothing was built" in built.stderr
    assert 'secrets.allow: [{path: "fixtures/fake.py", finding: "GitHub token"}]' in built.stderr
    allow = (
        "secrets:\n  allow:\n  - {path: model.env, finding: .env entry API_KEY}\n"
        "  - {path: fixtures/fake.py, finding: GitHub token}\n"
    )
    (project / "pipeline.yaml").write_text(config + allow, encoding="utf-8")
    subprocess.run(
        ["git", "commit", "-qam", "allow"],
        cwd=project,
        check=True,
        env={**os.environ, **GIT_IDENTITY},
    )
    assert run_pipeline(project, "lint").returncode == 0
    built = run_pipeline(project, "build", env=NO_ENGINE)
    assert "secret" not in built.stderr  # past the scan: it stops where the engine is needed
    assert built.returncode not in (0, 2), built.stderr
    # An allowance is for one kind in one file: another token there is still refused.
    (project / "fixtures" / "fake.py").write_text(GITHUB + "\n" + HF + "\n", encoding="utf-8")
    linted = run_pipeline(project, "lint", "--json")
    assert linted.returncode == 2
    assert [f["message"] for f in json.loads(linted.stdout)["findings"] if f["id"] == "ML012"] == [
        "Hugging Face token (hf_****, 37 characters) in the build context, sent to the builder "
        "and to any COPY ."
    ]


def test_an_allow_entry_that_is_not_a_path_and_a_finding_is_a_config_error(
    tmp_path: Path,
) -> None:
    context = make_context(tmp_path, {})
    (context / "pipeline.yaml").write_text("secrets:\n  allow:\n  - model.env\n", encoding="utf-8")
    result = run_pipeline(context, "lint")
    assert result.returncode == 1, result.stderr
    assert "secrets.allow: entry 1, 'model.env': write {path: <file>, finding: <kind>}" in (
        result.stderr
    )


def test_a_token_given_as_a_build_argument_is_refused_before_the_build(tmp_path: Path) -> None:
    config = (
        "lint:\n  hadolint: false\nregistry:\n  url: localhost:5999\n"
        "image:\n  build_args: {TOKENIZER: bert-base-uncased, MAX_TOKENS: '512'}\n"
    )
    project = git_project(tmp_path, {}, config)
    result = run_pipeline(project, "build", "--build-arg", f"HF_TOKEN={HF}", env=NO_ENGINE)
    assert result.returncode == 2, result.stderr
    assert "build arguments carry secrets" in result.stderr
    assert "nothing was built" in result.stderr
    assert (
        "HF_TOKEN (Hugging Face token, hf_****, 37 characters): pass it as a build secret "
        "instead of image.build_args or --build-arg: build.secrets {hf_token: env:HF_TOKEN} and "
        "RUN --mount=type=secret,id=hf_token,env=HF_TOKEN ..." in result.stderr
    )
    assert HF not in result.stdout + result.stderr
    result = run_pipeline(
        project, "build", "--build-arg", "DB_PASSWORD=hunter2hunter2", env=NO_ENGINE
    )
    assert result.returncode == 2 and "DB_PASSWORD (a value named like a secret" in result.stderr


def test_lint_reports_the_build_arguments_the_build_refuses(tmp_path: Path) -> None:
    context = make_context(tmp_path, {})
    (context / "pipeline.yaml").write_text(
        "lint:\n  hadolint: false\nimage:\n  build_args: {INDEX: '" + GITHUB + "', "
        "TOKENIZER: bert-base-uncased}\n",
        encoding="utf-8",
    )
    result = run_pipeline(context, "lint", "--json")
    assert result.returncode == 2, result.stderr
    [finding] = [f for f in json.loads(result.stdout)["findings"] if f["id"] == "ML018"]
    assert finding["file"].endswith("pipeline.yaml")
    assert finding["message"] == (
        "build argument INDEX carries a secret (GitHub token, ghp_****, 40 characters): its "
        "value stays in the image history; the build refuses it"
    )
    assert "build.secrets {index: env:INDEX}" in finding["fix"]
    assert GITHUB not in result.stdout + result.stderr
