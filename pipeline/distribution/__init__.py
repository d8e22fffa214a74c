"""The OCI distribution API, with nothing above it: what a registry is asked over HTTP.

Split as go-containerregistry splits it: `reference` (image names), `auth` (credentials and
which registry they are for), `transport` (HTTP with bearer tokens per scope and retries),
`errors` (the registry's error codes), `client` (tags, manifests and blobs), `uploads` (a blob
upload session), `mediatypes`. It knows no engine, no configuration and no release: those live
above it and use it (`tests/test_layering.py` holds it to that).
"""
