"""What `init` reads and writes: what an existing project has (`detect`), the Dockerfile templates,
the files it adds beside the project's own (`files`) and smoke samples from the app's OpenAPI
schema (`openapi`) or a Triton model repository's `config.pbtxt` (`triton`)."""
