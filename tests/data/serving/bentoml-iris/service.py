"""Iris species from sepal and petal sizes: a nearest-centroid model behind BentoML."""

import json
import math
from pathlib import Path

import bentoml


@bentoml.service(traffic={"timeout": 10})
class IrisClassifier:
    def __init__(self) -> None:
        self.centroids = json.loads(Path("model/centroids.json").read_text())

    @bentoml.api
    def classify(
        self,
        sepal_length: float,
        sepal_width: float,
        petal_length: float,
        petal_width: float,
    ) -> dict:
        features = [sepal_length, sepal_width, petal_length, petal_width]
        species = min(self.centroids, key=lambda name: math.dist(features, self.centroids[name]))
        return {"species": species}
