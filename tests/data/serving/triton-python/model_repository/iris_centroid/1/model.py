"""Iris species (0 setosa, 1 versicolor, 2 virginica) from sepal and petal sizes: the nearest
class centroid, on Triton's Python backend."""

import numpy as np
import triton_python_backend_utils as pb_utils

CENTROIDS = np.array(
    [[5.006, 3.428, 1.462, 0.246], [5.936, 2.77, 4.26, 1.326], [6.588, 2.974, 5.552, 2.026]],
    dtype=np.float32,
)


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            features = pb_utils.get_input_tensor_by_name(request, "FEATURES").as_numpy()
            distances = np.linalg.norm(features[:, None, :] - CENTROIDS[None], axis=2)
            species = distances.argmin(axis=1).astype(np.int32)[:, None]
            output = pb_utils.Tensor("SPECIES", species)
            responses.append(pb_utils.InferenceResponse(output_tensors=[output]))
        return responses
