"""Amazon ECR: a login token fetched per run, and the repository created when missing.

boto3 finds credentials and region the usual way (environment, profile, instance role, CI's
web identity) and honours `AWS_ENDPOINT_URL` (moto in the tests). The registry host is
`<account>.dkr.ecr.<region>.amazonaws.com`: from a full reference in `image.name`, else the
account `registry.aws_account_id` or the caller's own (STS). A token is fetched for any ECR
registry the run touches that no docker login covers (base images in another account too).
botocore retries throttling, 5xx answers and lost connections itself ("standard" mode,
`registry.retries` + 1 attempts), so its calls are not wrapped again.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pipeline.config.schema import Config
from pipeline.core.errors import RegistryError, UserError
from pipeline.distribution.auth import Credentials
from pipeline.distribution.reference import ImageRef
from pipeline.registries.location import ECR_HOST

if TYPE_CHECKING:
    import boto3


def repository(config: Config) -> ImageRef:
    """The repository named by `registry.aws_account_id` and `aws_region`, or the SDK's."""
    session = _session(config.registry.aws_region)
    region = session.region_name
    if not region:
        raise UserError(
            "ECR: no AWS region; set registry.aws_region, or AWS_REGION in the environment"
        )
    account = config.registry.aws_account_id or _caller_account(session, config, region)
    return ImageRef(f"{account}.dkr.ecr.{region}.amazonaws.com", config.image_name)


def _session(region: str | None) -> boto3.session.Session:
    import boto3

    return boto3.session.Session(region_name=region)


def _registry(host: str) -> tuple[str, str]:
    match = ECR_HOST.fullmatch(host)
    assert match, host  # only ECR hosts come here
    return match["account"], match["region"]


def login(config: Config, host: str) -> Credentials:
    """A login token for the ECR registry `host`, from the AWS SDK's credentials."""
    account, region = _registry(host)
    ecr = _client(_session(region), config, "ecr")
    with _aws_errors(f"get a login token for {host} (ecr:GetAuthorizationToken)"):
        data = ecr.get_authorization_token(registryIds=[account])["authorizationData"][0]
    # The token is base64 of "AWS:<password>"; the password is what the registry checks.
    username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return Credentials(username=username, password=password, registry=host)


def ensure_repository(config: Config, repository: ImageRef, mutability: str | None = None) -> None:
    """The repository exists, created when missing; skipped when the SDK has no credentials
    (a `docker login` alone can push to a repository that exists)."""
    account, region = _registry(repository.host)
    session = _session(region)
    if session.get_credentials() is None:
        return
    ecr = _client(session, config, "ecr")
    _ensure(ecr, config, account, repository, mutability or config.registry.ecr_tag_mutability)


def _client(session: boto3.session.Session, config: Config, service: str) -> Any:
    from botocore.config import Config as BotoConfig

    retries = {"max_attempts": config.registry.retries + 1, "mode": "standard"}
    return session.client(service, config=BotoConfig(retries=retries, connect_timeout=10))


@contextlib.contextmanager
def _aws_errors(action: str) -> Iterator[None]:
    """botocore's exceptions as one line that says what was tried and what to check."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        yield
    except NoCredentialsError as exc:
        raise UserError(
            f"ECR: cannot {action}: no AWS credentials; export AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, set AWS_PROFILE, or assume a role in CI (OIDC)"
        ) from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise RegistryError(
            f"ECR: cannot {action}: {error.get('Code', '?')}: {error.get('Message', '')}"
        ) from exc
    except BotoCoreError as exc:
        raise RegistryError(f"ECR: cannot {action}: {exc}") from exc


def _caller_account(session: boto3.session.Session, config: Config, region: str) -> str:
    with _aws_errors(f"find the AWS account (sts get-caller-identity in {region})"):
        return _client(session, config, "sts").get_caller_identity()["Account"]


def _ensure(ecr: Any, config: Config, account: str, repository: ImageRef, mutability: str) -> None:
    name = repository.path
    with _aws_errors(f"look up repository {name} in {repository.host}"):
        try:
            ecr.describe_repositories(registryId=account, repositoryNames=[name])
            return
        except ecr.exceptions.RepositoryNotFoundException:
            pass
    if not config.registry.create_repository:
        raise RegistryError(
            f"ECR: repository {name} does not exist in {repository.host} and "
            "registry.create_repository is false; create it (aws ecr create-repository "
            f"--repository-name {name}) or allow its creation"
        )
    # Another job may create it between the look-up and here; that is as good.
    with (
        _aws_errors(f"create repository {name} in {repository.host} (ecr:CreateRepository)"),
        contextlib.suppress(ecr.exceptions.RepositoryAlreadyExistsException),
    ):
        ecr.create_repository(
            registryId=account,
            repositoryName=name,
            imageScanningConfiguration={"scanOnPush": config.registry.ecr_scan_on_push},
            imageTagMutability=mutability,
        )
