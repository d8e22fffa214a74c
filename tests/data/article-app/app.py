import json
import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
from fastapi import FastAPI

logging.basicConfig(level=os.getenv("LOG_LEVEL", "INFO"))
logger = logging.getLogger(__name__)
sentiment_pipeline = None


# Stand-in for `from transformers import pipeline`, which downloads from the Hugging Face hub:
# the same call and answers, from a word-weight model that download_model.py writes offline.
def pipeline(task, model, device=-1):
    weights = json.loads((Path(model) / "lexicon.json").read_text())

    def classify(text):
        words = [word.strip(".,!?").lower() for word in text.split()]
        positive = float(1 / (1 + np.exp(-sum(weights.get(word, 0.0) for word in words))))
        if positive >= 0.5:
            return [{"label": "POSITIVE", "score": positive}]
        return [{"label": "NEGATIVE", "score": 1 - positive}]

    return classify


@asynccontextmanager
async def lifespan(app):
    global sentiment_pipeline
    model_path = os.getenv("MODEL_PATH", "/models/bert-base-uncased")
    logger.info(f"Loading model from {model_path}")
    sentiment_pipeline = pipeline("sentiment-analysis", model=model_path, device=-1)
    logger.info("Model loaded successfully")
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/health")
async def health():
    return {"status": "ok"}


@app.post("/predict")
async def predict(text: str):
    result = sentiment_pipeline(text)[0]
    return {"text": text, "label": result["label"], "score": float(result["score"])}
