"""What a secret looks like: by a file's name, and by what a file holds.

Name rules are for files that are credentials whatever they hold (a private key file, a
`.git-credentials`); some only count when their text has a credential in it (an `.npmrc` with
an `_authToken`). Content rules are token formats with a fixed prefix and length, specific
enough to flag in any file. Matching is on bytes, so a file is never decoded whole.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Hit:
    what: str  # "OpenSSH private key", "GitHub token"
    line: int | None = None  # 1-based, for content hits
    shown: str | None = None  # the value masked: its public prefix and its length
    fix: str | None = None  # set where the remedy is not leaving the file out


# The part of a value that may be shown: the token's format prefix, never its secret part.
_SHOWN_PREFIX = re.compile(
    rb"^(AKIA|ASIA|github_pat_|sk-proj-|sk_live_|rk_live_|[A-Za-z]{2,5}[-_])"
)


def masked(value: bytes) -> str:
    prefix = m.group(1) if (m := _SHOWN_PREFIX.match(value)) else b""
    return f"{prefix.decode('ascii', 'replace')}****, {len(value)} characters"


# Token formats: name -> (literal prefix, the regex after it) pairs. A regex runs only on data
# holding its literal, and starts with it: both are substring searches, far faster than a
# regex tried at every byte (a leading look-behind costs 20 times as much; boundaries are
# checked on the few matches instead).
_TOKENS: dict[str, tuple[tuple[bytes, bytes], ...]] = {
    "private key (PEM)": (
        (
            b"-----BEGIN ",
            rb"(?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----",
        ),
    ),
    "PuTTY private key": ((b"PuTTY-User-Key-File-", rb"\d+: *\S+"),),
    "GitHub token": ((b"gh", rb"[pousr]_[A-Za-z0-9]{36,}"),),
    "GitHub fine-grained token": ((b"github_pat_", rb"[A-Za-z0-9_]{50,}"),),
    "GitLab token": ((b"glpat-", rb"[A-Za-z0-9_\-]{20,}"),),
    "Slack token": ((b"xox", rb"[baprs]-[A-Za-z0-9\-]{10,}"),),
    "Stripe live key": ((b"sk_live_", rb"[A-Za-z0-9]{24,}"), (b"rk_live_", rb"[A-Za-z0-9]{24,}")),
    "OpenAI API key": (
        (
            b"sk-",
            rb"(?:(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,}|[A-Za-z0-9]{48}"
            rb"|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})",
        ),
    ),
    "Hugging Face token": ((b"hf_", rb"[A-Za-z0-9]{30,}"),),
    "AWS access key id": (
        (b"AKIA", rb"[A-Z0-9]{16}(?![A-Za-z0-9])"),
        (b"ASIA", rb"[A-Z0-9]{16}(?![A-Za-z0-9])"),
    ),
    "AWS secret access key": (
        (b"aws_secret_access_key", rb"\s*[=:]\s*[\"']?[A-Za-z0-9/+=]{40}"),
        (b"AWS_SECRET_ACCESS_KEY", rb"\s*[=:]\s*[\"']?[A-Za-z0-9/+=]{40}"),
    ),
    "GCP service account key": ((b'"type"', rb'\s*:\s*"service_account"'),),
    "GCP user credentials": ((b'"type"', rb'\s*:\s*"authorized_user"'),),
    "Azure storage key": (
        (b"AccountKey=", rb"[A-Za-z0-9+/=]{20,}"),
        (b"SharedAccessKey=", rb"[A-Za-z0-9+/=]{20,}"),
    ),
    "Azure client secret": ((b'"clientSecret"', rb'\s*:\s*"[^"\s]{8,}"'),),
}
_TOKEN_REGEX = {
    name: tuple((literal, re.compile(re.escape(literal) + rest)) for literal, rest in forms)
    for name, forms in _TOKENS.items()
}
_WORD = re.compile(rb"[A-Za-z0-9_]")
# Documentation's sample keys are not secrets: AWS's documented pair (AKIAIOSFODNN7EXAMPLE,
# wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY) and values written after them.
_EXAMPLE_SUFFIXES = (b"EXAMPLE", b"EXAMPLEKEY")


def documented_example(value: bytes) -> bool:
    return value.endswith(_EXAMPLE_SUFFIXES)


# A GCP key file is only a secret with its key in it.
_NEEDS_ALSO = {
    "GCP service account key": b'"private_key"',
    "GCP user credentials": b'"refresh_token"',
}


def token_hits(data: bytes, first_line: int | None = 1) -> Iterator[Hit]:
    """Known token formats in `data`, whose first byte is on line `first_line` (None: unknown,
    as in the tail of a large file)."""
    for name, forms in _TOKEN_REGEX.items():
        if name in _NEEDS_ALSO and _NEEDS_ALSO[name] not in data:
            continue
        for literal, regex in forms:
            if literal not in data:
                continue
            for match in regex.finditer(data):
                if not _standalone(data, match.start(), match.end()):
                    continue
                line = first_line
                if line is not None:
                    line += data.count(b"\n", 0, match.start())
                yield Hit(name, line, masked(match.group(0)) if _is_token_value(name) else None)


def _standalone(data: bytes, start: int, end: int) -> bool:
    """A token, not the middle of a longer word, nor a documentation sample."""
    before = data[start - 1 : start] if start else b""
    return not _WORD.match(before) and not documented_example(data[start:end])


def _is_token_value(name: str) -> bool:
    # Headers and JSON type markers say where a secret is; they are not its value.
    return not name.startswith(("private key", "PuTTY", "GCP"))


# --- by name -------------------------------------------------------------------------------

# A rule for files whose content decides: it returns the hits in that content.
ContentRule = Callable[[bytes], list[Hit]]

# A key names a secret when one of its words (split at "_", "-", ".") is one of these, or two
# adjacent words are: HF_TOKEN, DB_PASSWORD, OPENAI_API_KEY, but not MAX_TOKENS, HF_TOKENIZER or
# PWD alone (the shell's directory).
_SECRET_WORDS = frozenset(
    {"PASSWORD", "PASSWD", "PASS", "SECRET", "TOKEN", "APIKEY", "CREDENTIAL", "CREDENTIALS"}
)
_SECRET_PAIRS = frozenset({("API", "KEY"), ("ACCESS", "KEY"), ("PRIVATE", "KEY"), ("DB", "PWD")})
# Keys that say where a secret is kept, not what it is (PASSWORD_FILE=/run/secrets/db).
_POINTER_WORDS = frozenset({"FILE", "PATH", "DIR", "ENV", "NAME", "ID", "LENGTH", "TTL"})


def secret_key_name(name: str) -> bool:
    """Whether a variable, build argument or .env key named `name` holds a secret."""
    words = re.split(r"[_.\-]+", name.upper())
    if words[-1] in _POINTER_WORDS:
        return False
    return any(word in _SECRET_WORDS for word in words) or any(
        pair in _SECRET_PAIRS for pair in itertools.pairwise(words)
    )


_PLACEHOLDER = re.compile(
    rb"^(?:\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|<[^>]*>|x+|\*+|\.+|changeme|none|null|true|false"
    rb"|yes|no|[0-9]{1,6}(?:\.[0-9]+)?)$",
    re.I,
)


def secret_value(value: bytes) -> bool:
    """Whether a value given to a secret-named key can be one: not empty, a placeholder, a
    number or a flag."""
    return bool(value) and not _PLACEHOLDER.match(value) and not documented_example(value)


_ENV_ENTRY = re.compile(
    rb"^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.\-]*)[ \t]*=[ \t]*(.*)$", re.MULTILINE
)
# A URL that carries a password: scheme://user:password@host.
_URL_PASSWORD = re.compile(rb"[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]*:([^\s/@'\"]+)@[^\s/@'\"]")
# pip's and uv's index options, in a requirements file or a pip.conf.
_INDEX_OPTION = re.compile(
    rb"^[ \t]*(?:-[if]|--(?:extra-)?index-url|--find-links|(?:extra-)?index-url|find-links"
    rb"|url)[ \t]*[= \t].*$",
    re.MULTILINE,
)
INDEX_URL_FIX = (
    "take the credentials out of the URL: pass the index URL as a build secret, "
    "build.secrets {pip_index: env:PIP_EXTRA_INDEX_URL} and RUN --mount=type=secret,"
    "id=pip_index,env=PIP_EXTRA_INDEX_URL pip install ... (uv: UV_EXTRA_INDEX_URL)"
)


def _url_passwords(data: bytes, start: int, end: int) -> Iterator[re.Match[bytes]]:
    for match in _URL_PASSWORD.finditer(data, start, end):
        if secret_value(match.group(1)):
            yield match


def _env_file(data: bytes) -> list[Hit]:
    hits = []
    for match in _ENV_ENTRY.finditer(data):
        key = match.group(1).decode("ascii", "replace")
        value = match.group(2).split(b" #")[0].strip().strip(b"\"'")
        line = 1 + data.count(b"\n", 0, match.start())
        if secret_key_name(key) and secret_value(value):
            hits.append(Hit(f".env entry {key}", line, masked(value)))
        elif password := next(_url_passwords(data, *match.span(2)), None):
            what = f".env entry {key}: password in a URL"
            hits.append(Hit(what, line, masked(password.group(1))))
    return hits


def index_url_hits(data: bytes, first_line: int | None = 1) -> Iterator[Hit]:
    """Package index URLs with a password in them (`--extra-index-url https://u:t@host`)."""
    if b"://" not in data or b"@" not in data:
        return
    for option in _INDEX_OPTION.finditer(data):
        for match in _url_passwords(data, *option.span()):
            line = first_line
            if line is not None:
                line += data.count(b"\n", 0, match.start())
            yield Hit(
                "package index URL with a password", line, masked(match.group(1)), INDEX_URL_FIX
            )


def _lines_matching(what: str, pattern: bytes) -> ContentRule:
    regex = re.compile(pattern, re.IGNORECASE | re.MULTILINE)

    def rule(data: bytes) -> list[Hit]:
        return [
            Hit(what, 1 + data.count(b"\n", 0, match.start())) for match in regex.finditer(data)
        ]

    return rule


def _docker_config(data: bytes) -> list[Hit]:
    # `"auths": {"host": {}}` (a credential helper's entry) holds nothing; an auth string does.
    regex = rb"\"(?:auth|identitytoken|registrytoken)\"\s*:\s*\"[^\"]+\""
    return _lines_matching("Docker registry credentials", regex)(data)[:1]


def _aws_credentials(data: bytes) -> list[Hit]:
    regex = rb"^[ \t]*(aws_access_key_id|aws_secret_access_key|aws_session_token)[ \t]*=[ \t]*(\S+)"
    return [
        Hit("AWS credentials", 1 + data.count(b"\n", 0, match.start()), masked(match.group(2)))
        for match in re.finditer(regex, data, re.IGNORECASE | re.MULTILINE)
        if secret_value(match.group(2))
    ]


def _kubeconfig(data: bytes) -> list[Hit]:
    regex = rb"^\s*(?:token|client-key-data|client-key|password)\s*:\s*\S"
    return _lines_matching("kubeconfig credentials", regex)(data)


# Files that are secrets by their name alone: glob -> what they are. A glob is matched against
# as many trailing path components as it has (`.aws/credentials` anywhere).
SECRET_NAMES: dict[str, str] = {
    "id_rsa*": "SSH private key",
    "id_dsa*": "SSH private key",
    "id_ecdsa*": "SSH private key",
    "id_ed25519*": "SSH private key",
    "*.ppk": "PuTTY private key",
    "*.p12": "PKCS#12 key store",
    "*.pfx": "PKCS#12 key store",
    "*.jks": "Java key store",
    "*.keystore": "key store",
    ".git-credentials": "git credentials",
    ".netrc": "netrc credentials",
    "_netrc": "netrc credentials",
    ".huggingface/token": "Hugging Face token file",
    "huggingface/token": "Hugging Face token file",
    "huggingface/stored_tokens": "Hugging Face token file",
    ".azure/accessTokens.json": "Azure CLI tokens",
    ".azure/msal_token_cache.*": "Azure CLI tokens",
    ".azure/service_principal_entries.*": "Azure service principal",
    "gha-creds-*.json": "GCP credentials (google-github-actions/auth)",
    "application_default_credentials.json": "GCP user credentials",
}
# Files that are secrets when what they hold says so: glob -> the rule that reads it.
SECRET_WHEN: dict[str, ContentRule] = {
    ".aws/credentials": _aws_credentials,
    ".pypirc": _lines_matching("PyPI password", rb"^\s*password\s*[=:]\s*\S"),
    ".npmrc": _lines_matching("npm token", rb"_(?:authToken|auth|password)\s*=\s*\S"),
    ".docker/config.json": _docker_config,
    ".dockercfg": _docker_config,
    "kubeconfig": _kubeconfig,
    "*.kubeconfig": _kubeconfig,
    ".kube/config": _kubeconfig,
    ".env": _env_file,
    ".env.*": _env_file,
    "*.env": _env_file,
}
# Committed templates of an .env file, public keys and known_hosts are not secrets.
_NOT_SECRET_SUFFIXES = (".example", ".sample", ".template", ".dist", ".pub")
# Every file in these directories is a credential (a deploy key under any name).
SECRET_DIRECTORIES = (".ssh", ".gnupg")
_SSH_PUBLIC = ("known_hosts", "known_hosts.old", "authorized_keys", "config")


@dataclass(frozen=True)
class NameRule:
    glob: str  # what matched: also the basis of the suggested .dockerignore line
    what: str | None  # set when the name alone makes the file a secret
    content: ContentRule | None  # set when its content decides


def name_rule(relative: str) -> NameRule | None:
    """The rule that the context-relative `relative` path is named under, if any."""
    parts = relative.split("/")
    name = parts[-1]
    if name.endswith(_NOT_SECRET_SUFFIXES):
        return None
    for directory in SECRET_DIRECTORIES:
        if directory in parts[:-1] and name not in _SSH_PUBLIC:
            return NameRule(directory, f"key or credential in a {directory} directory", None)
    for glob, what in SECRET_NAMES.items():
        if _matches(parts, glob):
            return NameRule(glob, what, None)
    for glob, content in SECRET_WHEN.items():
        if _matches(parts, glob):
            return NameRule(glob, None, content)
    return None


def _matches(parts: list[str], glob: str) -> bool:
    return fnmatch.fnmatchcase("/".join(parts[-(glob.count("/") + 1) :]), glob)


# --- DER keys ------------------------------------------------------------------------------

DER_LIMIT = 16 * 1024  # the largest DER private key (RSA 16384) is under 10 KiB
# The OIDs of password-based encryption: PKCS#5 (PBES2) and PKCS#12's, as DER bytes.
_PBE_OIDS = (b"\x2a\x86\x48\x86\xf7\x0d\x01\x05", b"\x2a\x86\x48\x86\xf7\x0d\x01\x0c\x01")
_INTEGER, _OCTETS, _OID, _SEQUENCE = 0x02, 0x04, 0x06, 0x30


def der_private_key(data: bytes) -> str | None:
    """What private key `data` is, when the whole of it is one in DER (the binary form of a PEM
    key, `openssl ... -outform DER`): the structure of PKCS#1, SEC1, PKCS#8 or encrypted
    PKCS#8, checked element by element, so no other file passes for one."""
    outer = _der_elements(data)
    if outer is None or len(outer) != 1 or outer[0][0] != _SEQUENCE:
        return None
    items = _der_elements(outer[0][1])
    if not items:
        return None
    tags = [tag for tag, _ in items]
    first = items[0][1]
    if tags[:1] == [_INTEGER] and first in (b"\0", b"\1"):
        if tags[1:] in ([_INTEGER] * 8, [_INTEGER] * 5) and first == b"\0":
            return "RSA private key (DER)" if len(tags) == 9 else "DSA private key (DER)"
        if tags[1:3] == [_SEQUENCE, _OCTETS] and _starts_with_oid(items[1][1]):
            return "private key (PKCS#8 DER)"
        if tags[1:2] == [_OCTETS] and first == b"\1" and all(t in (0xA0, 0xA1) for t in tags[2:]):
            return "EC private key (DER)"
    if tags == [_SEQUENCE, _OCTETS]:
        algorithm = _der_elements(items[0][1])
        if algorithm and algorithm[0][0] == _OID and algorithm[0][1].startswith(_PBE_OIDS):
            return "encrypted private key (PKCS#8 DER)"
    return None


def _starts_with_oid(data: bytes) -> bool:
    elements = _der_elements(data)
    return bool(elements) and elements[0][0] == _OID


def _der_elements(data: bytes) -> list[tuple[int, bytes]] | None:
    """The (tag, content) of each element `data` is made of, or None unless it is exactly a
    run of definite-length DER elements."""
    elements, at = [], 0
    while at < len(data):
        if at + 2 > len(data):
            return None
        tag, length = data[at], data[at + 1]
        at += 2
        if length & 0x80:
            count = length & 0x7F
            if not 1 <= count <= 3 or at + count > len(data):
                return None
            length = int.from_bytes(data[at : at + count], "big")
            at += count
        if at + length > len(data):
            return None
        elements.append((tag, data[at : at + length]))
        at += length
    return elements
