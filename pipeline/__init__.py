"""Ship ML models as containers: split, lint, build, smoke-test, version and push."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ml-release-pipeline")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"
