"""Iris species from sepal and petal sizes: a nearest-centroid model behind Ray Serve."""

import json
import math
from pathlib import Path

from ray import serve
from starlette.requests import Request


@serve.deployment
class IrisClassifier:
    def __init__(self, path: str = "model/centroids.json") -> None:
        self.centroids = json.loads(Path(path).read_text())

    async def __call__(self, request: Request) -> dict:
        features = (await request.json())["features"]
        species = min(self.centroids, key=lambda name: math.dist(features, self.centroids[name]))
        return {"species": species}


app = IrisClassifier.bind()
