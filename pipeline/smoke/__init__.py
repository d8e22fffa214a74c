"""The smoke test: run the candidate image and check that it serves (GPU, health, sample
predictions, latency, graceful shutdown). `run.run_smoke` is what the release step calls.

Nothing is imported here: lint reads `gpu` and `drivers`, and the runner pulls in the engine and
registry clients.
"""
