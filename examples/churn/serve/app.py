"""The HTTP API: GET /health, POST /predict, GET /gpu-info."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from anyio import to_thread
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from serve.config import Settings
from serve.gpu import probe_gpus
from serve.model import LoadedModel, ModelLoadError, load_model
from serve.schema import Prediction, PredictResponse, parse_instances, request_validator

log = logging.getLogger("serve")


@dataclass
class _Ready:
    model: LoadedModel
    validator: type[BaseModel]


@dataclass
class _State:
    status: Literal["loading", "ok", "failed"] = "loading"
    ready: _Ready | None = None
    # Set when the lifespan ends, i.e. after the shutdown grace period: uvicorn then cancels
    # request tasks, but a cancelled task cannot stop the worker thread running its inference.
    stopping: threading.Event = field(default_factory=threading.Event)


class _Stopped(Exception):
    """Inference abandoned at a chunk boundary because the server is past its grace period."""


def create_app(settings: Settings, on_fatal: Callable[[], None]) -> FastAPI:
    """Build the app. `on_fatal` is called when the model cannot be served, to stop the server."""
    state = _State()
    gpu_info_once = functools.cache(probe_gpus)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Loading runs in the background so the port opens at once and /health can answer
        # "loading" (503) to orchestrators instead of refusing connections.
        loading = asyncio.create_task(_load(state, settings, on_fatal))
        try:
            yield
        finally:
            state.stopping.set()
            loading.cancel()

    app = FastAPI(title="model server", lifespan=lifespan)

    @app.get("/health")
    async def health() -> JSONResponse:
        if state.ready is None:
            return JSONResponse({"status": state.status}, status_code=503)
        metadata = state.ready.model.metadata
        return JSONResponse(
            {
                "status": "ok",
                "model": metadata.name,
                "model_version": metadata.version,
                "framework": metadata.framework,
            }
        )

    @app.post("/predict", response_model=PredictResponse)
    async def predict(request: Request) -> PredictResponse:
        ready = state.ready
        if ready is None:
            raise HTTPException(status_code=503, detail=f"model not ready: {state.status}")
        body = await request.body()
        # Validation and inference are CPU-bound: a worker thread keeps /health responsive.
        return await to_thread.run_sync(_predict, ready, body, settings, state.stopping)

    @app.get("/gpu-info")
    async def gpu_info() -> dict[str, Any]:
        info = await to_thread.run_sync(gpu_info_once)
        # Which device the loaded model runs on: a GPU that is visible but unused shows here.
        model_device = state.ready.model.predictor.device if state.ready else None
        return {**info, "model_device": model_device}

    return app


async def _load(state: _State, settings: Settings, on_fatal: Callable[[], None]) -> None:
    try:
        model = await to_thread.run_sync(load_model, settings.model_path)
        await to_thread.run_sync(model.warm_up)
        validator = request_validator(model.metadata)
    except ModelLoadError as exc:
        log.error("cannot serve: %s", exc)
    except Exception:
        # A corrupt pickle or a framework error: the traceback is the useful part here.
        log.exception("cannot serve: loading %s failed", settings.model_path)
    else:
        if settings.warmup_delay_seconds:
            await asyncio.sleep(settings.warmup_delay_seconds)
        state.ready = _Ready(model=model, validator=validator)
        state.status = "ok"
        metadata = model.metadata
        log.info("model %s %s (%s) ready", metadata.name, metadata.version, metadata.framework)
        return
    state.status = "failed"
    on_fatal()


def _predict(
    ready: _Ready, body: bytes, settings: Settings, stopping: threading.Event
) -> PredictResponse:
    try:
        instances = parse_instances(ready.validator, body)
    except ValidationError as exc:
        # Inputs are not echoed back: they can be large, sensitive, or NaN (not valid JSON).
        errors = [
            {"type": error["type"], "loc": ("body", *error["loc"]), "msg": error["msg"]}
            for error in exc.errors(include_url=False)
        ]
        raise RequestValidationError(errors) from None
    model = ready.model
    labels = model.metadata.labels
    chunks = range(0, len(instances), settings.batch_size)
    log.debug("predicting %d instances in %d chunks", len(instances), len(chunks))
    predictions: list[Prediction] = []
    for start in chunks:
        # Chunk boundaries are where a batch still running after the grace period stops, so it
        # cannot hold the process open past SHUTDOWN_GRACE_SECONDS.
        if stopping.is_set():
            raise _Stopped
        rows = model.rows(instances[start : start + settings.batch_size])
        for probabilities in model.predictor.predict_proba(rows):
            best = max(range(len(probabilities)), key=probabilities.__getitem__)
            probability = probabilities[best]
            predictions.append(
                Prediction(
                    label=labels[best],
                    probability=probability,
                    confident=probability >= settings.confidence_threshold,
                )
            )
    return PredictResponse(predictions=predictions, model_version=model.metadata.version)
