"""An OCI image as values, without an engine: what a registry-side patch of an image needs.

`descriptor` (what points at a blob), `manifest` (image manifests and indexes, Docker v2 and
OCI), `config` (the image config), `layer` (reproducible layer tars), `blobs` (where a blob's
bytes come from), `image` (an image and the edits that make new ones) and `remote` (reading one
from a registry and writing one back, uploading only the blobs the registry lacks). Manifests
and configs keep their bytes: an image that is not edited keeps its digest.
"""
