"""The image's SBOM (CycloneDX JSON), made by syft straight from the registry: the Python
distributions of every site-packages, the OS packages, with versions, licences and purls. syft
reads the image by digest over the registry API; no engine and no pull into one."""

from __future__ import annotations

from pathlib import Path

from pipeline.distribution.auth import Keychain
from pipeline.distribution.reference import ImageRef
from pipeline.signing.tools import run_tool, tool, tool_environment


def write_sbom(keychain: Keychain, image: ImageRef, path: Path) -> Path:
    """`image`'s CycloneDX SBOM in `path`."""
    argv = [tool("syft"), "scan", f"registry:{image}", "-q", "-o", f"cyclonedx-json={path}"]
    with tool_environment(keychain, [image]) as environ:
        run_tool(argv, environ, f"SBOM of {image}")
    return path
