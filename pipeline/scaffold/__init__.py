"""What `init` reads and writes: what an existing project has (`detect`, with a Ray Serve config
file read by `rayserve`), the Dockerfile templates, the files it adds beside the project's own
(`files`) and smoke samples from the app's OpenAPI schema (`openapi`), a Triton model
repository's `config.pbtxt` (`triton`) or a BentoML service's `@bentoml.api` methods (`bento`)."""
