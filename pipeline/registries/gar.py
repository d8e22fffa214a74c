"""Google Artifact Registry, and gcr.io as its legacy alias: an OAuth access token per run.

The token is `PIPELINE_GAR_ACCESS_TOKEN` when set (what a CI workload-identity step exports:
google-github-actions/auth's `access_token` output, or `gcloud auth print-access-token`), else
Application Default Credentials with the cloud-platform scope, refreshed. The registry user
for an access token is `oauth2accesstoken`.

- `gar`: `<gcp_location>-docker.pkg.dev/<gcp_project>/<gar_repository>/<image>`; the repository
  is looked up through the Artifact Registry API and created (format DOCKER) when missing and
  `registry.create_repository` allows. `PIPELINE_GAR_ENDPOINT` points that API elsewhere (REST
  transport; the local stand-in), and only there, with no token and no ADC, the API is called
  anonymously and the registry gets no login.
- `gcr`: `registry.url` `[us.|eu.|asia.]gcr.io/PROJECT` gives `gcr.io/PROJECT/<image>`. Since
  Container Registry's shutdown these names are served by Artifact Registry repositories named
  after the host (`gcr.io`, `eu.gcr.io`, ...), which are set up once when moving off GCR; they
  are not created here (their ids are not ones the create call accepts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from pipeline.config.schema import Config
from pipeline.core.errors import RegistryError, UserError
from pipeline.core.retry import RetryPolicy, TransientError, retrying
from pipeline.distribution.auth import Credentials
from pipeline.distribution.reference import ImageRef
from pipeline.distribution.transport import first_line
from pipeline.registries.location import GAR_HOST

if TYPE_CHECKING:
    import google.auth.credentials

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
TOKEN_ENV = "PIPELINE_GAR_ACCESS_TOKEN"
ENDPOINT_ENV = "PIPELINE_GAR_ENDPOINT"
PROJECT_ENVS = ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT")
USERNAME = "oauth2accesstoken"


def repository(config: Config, environ: Mapping[str, str]) -> ImageRef:
    """The repository `registry.gcp_*` and `gar_repository` name (gcr: `registry.url`)."""
    if config.registry.kind == "gcr":
        return _gcr_repository(config, environ)
    settings = config.registry
    if not settings.gar_repository:
        raise UserError(
            "registry.gar_repository: not set; Artifact Registry images live in "
            "<location>-docker.pkg.dev/<project>/<repository>/<image>"
        )
    host = f"{settings.gcp_location}-docker.pkg.dev"
    project = _project(config, environ)
    return ImageRef(host, f"{project}/{settings.gar_repository}/{config.image_name}")


def _project(config: Config, environ: Mapping[str, str]) -> str:
    project = config.registry.gcp_project or next(
        (environ[name] for name in PROJECT_ENVS if environ.get(name)), None
    )
    if not project:
        raise UserError(
            "registry.gcp_project: not set (nor GOOGLE_CLOUD_PROJECT); name the Google Cloud "
            "project that holds the registry"
        )
    return project


def _gcr_repository(config: Config, environ: Mapping[str, str]) -> ImageRef:
    host, _, namespace = (config.registry.url or "").strip("/").partition("/")
    if not host.endswith("gcr.io"):
        host, namespace = "gcr.io", ""
    return ImageRef(host, f"{namespace or _project(config, environ)}/{config.image_name}")


def login(environ: Mapping[str, str], host: str) -> Credentials | None:
    """An access token for the Artifact Registry (or gcr.io) registry `host`."""
    token = _google_credentials(environ, host)[1]
    return Credentials(username=USERNAME, password=token, registry=host) if token else None


def ensure_repository(
    config: Config, environ: Mapping[str, str], repository: ImageRef, logged_in: bool
) -> None:
    """An Artifact Registry repository exists, created when missing (gcr.io's are set up once,
    never here); skipped when a docker login got us in and there are no Google credentials."""
    location = GAR_HOST.fullmatch(repository.host)
    if not location:
        return
    project, name, *_ = repository.path.split("/")
    resource = f"projects/{project}/locations/{location['location']}/repositories/{name}"
    try:
        api_credentials, _ = _google_credentials(environ, repository.host)
    except UserError:
        if logged_in:
            return
        raise
    policy = RetryPolicy(config.registry.retries)
    _ensure_repository(config, environ, api_credentials, resource, policy)


def _google_credentials(
    environ: Mapping[str, str], host: str
) -> tuple[google.auth.credentials.Credentials, str | None]:
    import google.auth
    import google.auth.exceptions
    import google.auth.transport.requests
    import google.oauth2.credentials
    from google.auth.credentials import AnonymousCredentials

    if token := environ.get(TOKEN_ENV):
        return google.oauth2.credentials.Credentials(token), token
    try:
        credentials, _ = google.auth.default(scopes=SCOPES)
    except google.auth.exceptions.DefaultCredentialsError as exc:
        if environ.get(ENDPOINT_ENV):
            return AnonymousCredentials(), None
        raise UserError(
            f"registry {host}: no Google credentials; set GOOGLE_APPLICATION_CREDENTIALS, run "
            f"`gcloud auth application-default login`, or export {TOKEN_ENV} (CI: the access "
            "token of a workload identity federation step)"
        ) from exc
    try:
        credentials.refresh(google.auth.transport.requests.Request())
    except google.auth.exceptions.GoogleAuthError as exc:
        raise RegistryError(
            f"registry {host}: could not get a Google access token: {exc}; check the "
            "credentials' service account and its roles/artifactregistry.writer role"
        ) from exc
    return credentials, credentials.token


def _ensure_repository(
    config: Config,
    environ: Mapping[str, str],
    credentials: google.auth.credentials.Credentials,
    resource: str,
    policy: RetryPolicy,
) -> None:
    from google.api_core import exceptions
    from google.api_core.client_options import ClientOptions
    from google.cloud import artifactregistry_v1 as ar

    options: dict[str, Any] = {}
    if endpoint := environ.get(ENDPOINT_ENV):
        options = {"transport": "rest", "client_options": ClientOptions(api_endpoint=endpoint)}
    client = ar.ArtifactRegistryClient(credentials=credentials, **options)
    try:
        found = _call(lambda: client.get_repository(name=resource), resource, policy)
    except exceptions.NotFound:
        found = None
    if found is not None:
        if found.format_ != ar.Repository.Format.DOCKER:
            raise RegistryError(
                f"Artifact Registry: {resource} is a {found.format_.name} repository, not DOCKER"
            )
        return
    if not config.registry.create_repository:
        raise RegistryError(
            f"Artifact Registry: {resource} does not exist and registry.create_repository is "
            "false; create it (gcloud artifacts repositories create --repository-format=docker) "
            "or allow its creation"
        )
    parent, _, repository_id = resource.rpartition("/repositories/")
    repository = ar.Repository(format_=ar.Repository.Format.DOCKER)

    def create() -> None:
        # Another job may have created it since the look-up; that is as good.
        with suppress(exceptions.Conflict):
            client.create_repository(
                parent=parent, repository_id=repository_id, repository=repository
            ).result(timeout=120)

    _call(create, resource, policy)


def _call(action: Callable[[], Any], resource: str, policy: RetryPolicy) -> Any:
    """An Artifact Registry API call, retried when transient; NotFound passes through."""

    def attempt() -> Any:
        with _api_errors(resource):
            return action()

    return retrying(attempt, policy)


@contextmanager
def _api_errors(resource: str) -> Iterator[None]:
    import requests
    from google.api_core import exceptions

    transient = (
        exceptions.ServiceUnavailable,
        exceptions.InternalServerError,
        exceptions.TooManyRequests,
        exceptions.DeadlineExceeded,
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
    )
    try:
        yield
    except exceptions.NotFound:
        raise
    except transient as exc:
        raise TransientError(f"Artifact Registry API: {resource}: {first_line(exc)}") from exc
    except exceptions.GoogleAPICallError as exc:
        hint = ""
        if isinstance(exc, exceptions.PermissionDenied | exceptions.Unauthenticated):
            hint = "; check that the credentials hold roles/artifactregistry.writer (or admin)"
        raise RegistryError(f"Artifact Registry API: {resource}: {first_line(exc)}{hint}") from exc
