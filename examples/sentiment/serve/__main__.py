"""`python -m serve`: validate the environment, then run uvicorn with one worker."""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType

import uvicorn

from serve.app import create_app
from serve.config import ConfigError, Settings

# Exit codes once uvicorn has finished its graceful shutdown and re-raised the signal it caught.
_SIGNAL_EXIT_CODES = {signal.SIGTERM: 0, signal.SIGINT: 130}


def main() -> int:
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        print("serve: invalid configuration:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for signum in _SIGNAL_EXIT_CODES:
        signal.signal(signum, _exit_for_signal)

    failed = False

    def stop_on_fatal() -> None:
        nonlocal failed
        failed = True
        server.should_exit = True

    app = create_app(settings, on_fatal=stop_on_fatal)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,  # our basicConfig above formats uvicorn's records too
            log_level=settings.log_level,
            lifespan="on",
            timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        )
    )
    server.run()
    return 1 if failed else 0


def _exit_for_signal(signum: int, _: FrameType | None) -> None:
    # uvicorn swaps in its own handlers while serving and re-raises the signal after draining
    # in-flight requests; landing here means the stop was orderly (or came before serving).
    raise SystemExit(_SIGNAL_EXIT_CODES[signal.Signals(signum)])


if __name__ == "__main__":
    sys.exit(main())
