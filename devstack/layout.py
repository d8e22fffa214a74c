"""Where each part of the stack lives: names, addresses and ports, in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RegistrySpec:
    name: str  # key in pids.json, directory under registries/
    label: str  # what progress lines and `status` call it
    host: str  # the name clients push to
    bind_ip: str
    port: int
    tls: bool
    htpasswd: bool

    @property
    def bind(self) -> str:
        return f"{self.bind_ip}:{self.port}"

    @property
    def v2_url(self) -> str:
        if self.tls:
            return f"https://{self.host}/v2/"
        return f"http://{self.bind}/v2/"


LOCAL_REGISTRY = RegistrySpec(
    name="registry-local",
    label="registry 127.0.0.1:5000",
    host="127.0.0.1:5000",
    bind_ip="127.0.0.1",
    port=5000,
    tls=False,
    htpasswd=False,
)
ECR_ACCOUNT = "123456789012"  # moto's default account: its repository URIs use this host
AWS_REGION = "us-east-1"
ECR_REGISTRY = RegistrySpec(
    name="registry-ecr",
    label="ecr registry",
    host=f"{ECR_ACCOUNT}.dkr.ecr.{AWS_REGION}.amazonaws.com",
    bind_ip="127.0.0.2",
    port=443,
    tls=True,
    htpasswd=False,  # the token is moto's concern; the registry itself accepts anyone
)
GAR_REGISTRY = RegistrySpec(
    name="registry-gar",
    label="artifact registry",
    host="us-docker.pkg.dev",
    bind_ip="127.0.0.3",
    port=443,
    tls=True,
    htpasswd=False,
)
HUB_REGISTRY = RegistrySpec(
    name="registry-hub",
    label="hub registry",
    host="hub.pipeline.test",
    bind_ip="127.0.0.4",
    port=443,
    tls=True,
    htpasswd=True,
)
REGISTRIES: tuple[RegistrySpec, ...] = (LOCAL_REGISTRY, ECR_REGISTRY, GAR_REGISTRY, HUB_REGISTRY)
STAND_INS: tuple[RegistrySpec, ...] = tuple(spec for spec in REGISTRIES if spec.tls)

HUB_USERNAME = "pipeline"
HUB_PASSWORD_SECRET = "hub-password"

MOTO_HOST, MOTO_PORT = "127.0.0.1", 5001
MOTO_ENDPOINT = f"http://{MOTO_HOST}:{MOTO_PORT}"
GAR_API_HOST, GAR_API_PORT = "127.0.0.1", 5002
GAR_ENDPOINT = f"http://{GAR_API_HOST}:{GAR_API_PORT}"

BASE_IMAGE = "python:3.11-slim"
SEEDED_REPOSITORY = "library/python"
SEEDED_TAG = "3.11-slim"
SEEDED_IMAGE = f"{LOCAL_REGISTRY.host}/{SEEDED_REPOSITORY}:{SEEDED_TAG}"
LOCAL_MIRROR = f"http://{LOCAL_REGISTRY.host}"

ENGINE_NAME = "dockerd"
MOTO_NAME = "moto"
GAR_API_NAME = "gar-api"
