"""Ship ML models as containers: split, lint, build, smoke-test, version and push."""


def __getattr__(name: str) -> str:
    # `__version__` is looked up on first use: importlib.metadata costs tens of ms at every start.
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ml-release-pipeline")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "0+unknown"
