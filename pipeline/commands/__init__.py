"""One module per subcommand, each with add_arguments(parser) and run(ctx) -> exit code; beside
them the options they share (`options`) and what each receives (`context`).

COMMANDS holds each one's help, so the top-level help lists them without importing any of them.
"""

# In the order a release runs them.
COMMANDS = {
    "config": "print the resolved configuration (defaults < pipeline.yaml < env < flags)",
    "init": "ready a project for release: keep its Dockerfile and app (or write a template's)",
    "split": "split requirements into a cached base layer (ML frameworks) and an app layer",
    "lint": "check the Dockerfile for ML-container mistakes (and run hadolint)",
    "build": "build the image (registry cache) and push it as the candidate sha-<commit>",
    "smoke": (
        "run the image and check it serves: GPU, /health, sample predictions, latency, SIGTERM"
    ),
    "version": "decide the next version from conventional commits and write it to VERSION",
    "push": "give the smoke-tested candidate image the version's tags in the registry",
    "verify": "check an image's cosign signature and attestations; print provenance and smoke",
    "release": "run the whole release (or a range of its steps), resuming after a failure",
    "prune": "delete old candidate (sha-*) and build-cache tags; never a released image",
}
