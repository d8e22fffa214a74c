"""The whole stack: bring it up (idempotently), report on it, take it down."""

from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import apis, certs, engine, hosts, packages, procs, registries, seed
from .layout import (
    AWS_REGION,
    BASE_IMAGE,
    ECR_ACCOUNT,
    ECR_REGISTRY,
    ENGINE_NAME,
    GAR_API_NAME,
    GAR_ENDPOINT,
    GAR_REGISTRY,
    HUB_PASSWORD_SECRET,
    HUB_REGISTRY,
    HUB_USERNAME,
    LOCAL_MIRROR,
    LOCAL_REGISTRY,
    MOTO_ENDPOINT,
    MOTO_NAME,
    REGISTRIES,
    SEEDED_IMAGE,
    STAND_INS,
)
from .procs import progress
from .state import StateDir, default_state_dir


@dataclass(frozen=True)
class StackInfo:
    """Where everything is. Pass `hub_auth_config` to the docker SDK's push/pull per call."""

    state_dir: Path
    registry: str  # the local registry (and Docker Hub mirror): push target of the demo
    ecr_host: str
    ecr_account: str
    aws_region: str
    gar_host: str
    hub_host: str
    hub_username: str
    hub_password: str = field(repr=False)
    moto_endpoint: str
    gar_endpoint: str
    ca_bundle: Path
    base_image: str
    engine_managed: bool  # devstack started dockerd, so `down` stops it

    @property
    def hub_auth_config(self) -> dict[str, str]:
        return {"username": self.hub_username, "password": self.hub_password}

    @property
    def hub_password_file(self) -> Path:
        return StateDir(self.state_dir).secrets / HUB_PASSWORD_SECRET

    def env(self, show_secrets: bool = False) -> dict[str, str]:
        """What tests, the demo and a shell need to talk to the stand-ins."""
        bundle = str(self.ca_bundle)
        loopback = ["127.0.0.1", "localhost", self.ecr_host, self.gar_host, self.hub_host]
        existing = [h for h in os.environ.get("NO_PROXY", "").split(",") if h]
        no_proxy = ",".join(dict.fromkeys(existing + loopback))
        env = {
            "PIPELINE_STACK_DIR": str(self.state_dir),
            "AWS_ENDPOINT_URL": self.moto_endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": self.aws_region,
            "PIPELINE_GAR_ENDPOINT": self.gar_endpoint,
            "PIPELINE_LOCAL_REGISTRY": self.registry,
            "PIPELINE_ECR_HOST": self.ecr_host,
            "PIPELINE_GAR_HOST": self.gar_host,
            "PIPELINE_HUB_HOST": self.hub_host,
            "PIPELINE_HUB_USERNAME": self.hub_username,
            "PIPELINE_HUB_PASSWORD_FILE": str(self.hub_password_file),
            "PIPELINE_IMAGE_NETWORK": "host",  # the engine has no bridge ("bridge": "none")
            "PIPELINE_SMOKE_NETWORK": "host",
            # The bundle is the system CAs plus the stand-ins', so it can replace the default.
            "REQUESTS_CA_BUNDLE": bundle,
            "SSL_CERT_FILE": bundle,
            "CURL_CA_BUNDLE": bundle,
            "NO_PROXY": no_proxy,
            "no_proxy": no_proxy,
        }
        if show_secrets:
            env["PIPELINE_HUB_PASSWORD"] = self.hub_password
        return env

    def to_dict(self, show_secrets: bool = False) -> dict[str, Any]:
        data = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}
        if not show_secrets:
            data["hub_password"] = "********"
        data["hub_password_file"] = str(self.hub_password_file)
        return data


@dataclass(frozen=True)
class Component:
    name: str
    label: str
    address: str
    up: bool
    pid: int | None = None
    managed: bool = False  # started by devstack (a recorded PID or container)
    detail: str = ""


def _state() -> StateDir:
    return StateDir(default_state_dir())


def _info(state: StateDir, password: str, engine_managed: bool) -> StackInfo:
    return StackInfo(
        state_dir=state.root,
        registry=LOCAL_REGISTRY.host,
        ecr_host=ECR_REGISTRY.host,
        ecr_account=ECR_ACCOUNT,
        aws_region=AWS_REGION,
        gar_host=GAR_REGISTRY.host,
        hub_host=HUB_REGISTRY.host,
        hub_username=HUB_USERNAME,
        hub_password=password,
        moto_endpoint=MOTO_ENDPOINT,
        gar_endpoint=GAR_ENDPOINT,
        ca_bundle=state.ca_bundle,
        base_image=BASE_IMAGE,
        engine_managed=engine_managed,
    )


def stack_info() -> StackInfo:
    """The addresses without starting anything (the password is empty before a first `up`)."""
    state = _state()
    path = state.secrets / HUB_PASSWORD_SECRET
    password = path.read_text().strip() if path.exists() else ""
    managed = procs.record_alive(state.load_records().get(ENGINE_NAME))
    return _info(state, password, managed)


def ensure_up() -> StackInfo:
    """Bring every component up, reusing what already runs; safe to call from many processes."""
    state = _state()
    state.ensure()
    with state.locked():
        return _up(state)


def _up(state: StateDir) -> StackInfo:
    need_engine = engine.needs_install(state)
    if need_engine and packages.can_install():
        # Before apt: on a systemd host the new docker.io starts dockerd at once, and that
        # dockerd must already see our mirror.
        engine.merge_daemon_json()
    packages.ensure(state, need_engine)
    # Certificates first: the engine is started reading the CA bundle.
    stand_in_certs: dict[str, Path] = {}
    made: list[str] = []
    for spec in STAND_INS:
        cert, key = registries.cert_paths(spec, state)
        if certs.ensure_cert(spec.host, cert, key):
            made.append(spec.host)
        certs.trust_in_engine(spec.host, cert)
        stand_in_certs[spec.host] = cert
    bundle_changed = certs.write_bundle(state.ca_bundle, stand_in_certs)
    tls_note = f"new certificates for {', '.join(made)}" if made else "certificates kept"
    progress(f"tls: {tls_note} (ca bundle {state.ca_bundle})")
    engine_info = engine.ensure(state, bundle_changed)
    in_container = registries.use_containers()
    password = state.secret(HUB_PASSWORD_SECRET)
    changed = hosts.ensure({spec.host: spec.bind_ip for spec in STAND_INS})
    progress(f"hosts: {'mapped' if changed else 'already map'} {len(STAND_INS)} stand-in names")

    for spec in REGISTRIES:
        registries.prepare(spec, state, password, in_container)
    if not procs.record_alive(state.load_records().get(MOTO_NAME)):
        apis.ensure_moto_installed(state)  # only the Python that starts moto needs it

    # Start everything first, then wait: the processes boot while the others are checked.
    launches: list[procs.Launch] = []
    if in_container:
        for spec in REGISTRIES:
            registries.ensure_container(spec, state)
    else:
        launches = [procs.launch(registries.service(spec, state), state) for spec in REGISTRIES]
    api_launches = [
        procs.launch(apis.moto_service(), state),
        procs.launch(apis.gar_service(), state),
    ]
    for launched in launches:
        procs.finish(launched, state)
    seed.ensure(state, engine_info)  # needs the local registry; the APIs keep booting
    for launched in api_launches:
        procs.finish(launched, state)
    return _info(state, password, engine_info.managed)


def status() -> list[Component]:
    """Each component, where it runs and whether it answers. Starts nothing."""
    state = _state()
    records = state.load_records()
    info = stack_info()
    components: list[Component] = []

    raw = engine.query()
    record = records.get(ENGINE_NAME)
    managed = procs.record_alive(record)
    if raw is None:
        engine_detail = "no engine answers `docker info`"
    else:
        mirrors = (raw.get("RegistryConfig") or {}).get("Mirrors") or []
        mirrored = any(str(m).rstrip("/") == LOCAL_MIRROR for m in mirrors)
        engine_detail = f"{engine.describe(raw)}; " + (
            f"mirror {LOCAL_MIRROR}" if mirrored else f"NOT using {LOCAL_MIRROR} as mirror"
        )
    components.append(
        Component(
            name="engine",
            label="engine",
            address=os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"),
            up=raw is not None,
            pid=record["pid"] if managed and record else None,
            managed=managed,
            detail=engine_detail if managed or raw is None else engine_detail + "; not ours",
        )
    )

    for spec in REGISTRIES:
        record = records.get(spec.name) or {}
        pid: int | None = None
        if "container" in record:
            pid = registries.container_pid(record["container"])
            managed = pid is not None
        else:
            managed = procs.record_alive(record)
            pid = record.get("pid") if managed else None
        answers = registries.answers(spec, state)
        detail = "answers /v2/" if answers else "no answer on /v2/"
        if spec.htpasswd and answers:
            login = registries.accepts_login(spec, state, info.hub_password)
            detail += "; login ok" if login else "; login REFUSED"
            answers = login
        components.append(
            Component(
                name=spec.name,
                label=spec.label,
                address=spec.bind if not spec.tls else f"https://{spec.host} ({spec.bind})",
                up=answers,
                pid=pid,
                managed=managed,
                detail=detail,
            )
        )

    seeded = seed.registry_has_seed()
    components.append(
        Component(
            name="seed",
            label=f"seed {BASE_IMAGE}",
            address=SEEDED_IMAGE,
            up=seeded,
            detail="in the local registry" if seeded else "missing from the local registry",
        )
    )

    wrong = [s.host for s in STAND_INS if _resolves_to(s.host) != s.bind_ip]
    components.append(
        Component(
            name="hosts",
            label="hosts",
            address=str(hosts.HOSTS_FILE),
            up=not wrong,
            detail=f"wrong: {', '.join(wrong)}" if wrong else "stand-in names resolve to loopback",
        )
    )

    for service in (apis.moto_service(), apis.gar_service()):
        record = records.get(service.name)
        managed = procs.record_alive(record)
        answers = service.probe()
        components.append(
            Component(
                name=service.name,
                label=service.label,
                address=service.address,
                up=answers,
                pid=record["pid"] if managed and record else None,
                managed=managed,
                detail="answers" if answers else "no answer",
            )
        )
    return components


def _resolves_to(host: str) -> str | None:
    try:
        return socket.getaddrinfo(host, 443, socket.AF_INET)[0][4][0]
    except (OSError, IndexError):
        return None


def down(purge: bool = False) -> None:
    """Stop what `up` started, by recorded PID (or container); keep data unless `purge`."""
    state = _state()
    if not state.root.exists():
        progress("stack: nothing to stop (no state dir)")
        return
    with state.locked():
        records = state.load_records()
        for name, label in ((GAR_API_NAME, "artifact registry API"), (MOTO_NAME, "moto (ECR API)")):
            procs.stop_service(name, label, state)
        for spec in reversed(REGISTRIES):
            if "container" in (records.get(spec.name) or {}):
                registries.stop_container(spec, state)
            else:
                procs.stop_service(spec.name, spec.label, state)
        if procs.record_alive(records.get(ENGINE_NAME)):
            engine.stop(state)
        else:
            state.save_record(ENGINE_NAME, None)
            if engine.query() is not None:
                progress("engine: left running (devstack did not start it)")
        if purge:
            state.purge()
            hosts_changed = hosts.remove()
            for spec in STAND_INS:
                certs.untrust_in_engine(spec.host)
            progress(
                f"purged {state.root} (registry data, certs, secrets, logs)"
                + (", /etc/hosts lines" if hosts_changed else "")
                + " and the engine's trust in the stand-ins"
            )
