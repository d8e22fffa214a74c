"""The image's SBOM (CycloneDX JSON), made by syft straight from the registry: the Python
distributions of every site-packages, the OS packages, with versions, licences and purls. syft
reads the image by digest over the registry API; no engine and no pull into one. syft catalogs
packages, not model weights: those are added as file components with their sha256."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.distribution.auth import Keychain
from pipeline.distribution.reference import ImageRef
from pipeline.signing.statements import file_digest
from pipeline.signing.tools import run_tool, tool, tool_environment


def write_sbom(keychain: Keychain, image: ImageRef, path: Path, model_dir: Path | None) -> Path:
    """`image`'s CycloneDX SBOM in `path`, with the files of `model_dir` (the project's weights
    directory, which the image copies) when there is one."""
    # Not -q: syft then fails without a word on either stream ("exit status 1" was all a
    # full disk said). Without a terminal it prints nothing else but its errors.
    argv = [tool("syft"), "scan", f"registry:{image}", "-o", f"cyclonedx-json={path}"]
    with tool_environment(keychain, [image]) as environ:
        run_tool(argv, environ, f"SBOM of {image}")
    if model_dir is not None and model_dir.is_dir():
        document = json.loads(path.read_text(encoding="utf-8"))
        document.setdefault("components", []).extend(model_files(model_dir))
        path.write_text(json.dumps(document), encoding="utf-8")
    return path


def model_files(model_dir: Path) -> list[dict[str, object]]:
    """CycloneDX file components, named by their path under the project's model directory."""
    found = []
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        name = f"{model_dir.name}/{path.relative_to(model_dir).as_posix()}"
        found.append(
            {
                "type": "file",
                "bom-ref": f"file:{name}",
                "name": name,
                "hashes": [{"alg": "SHA-256", "content": file_digest(path)}],
            }
        )
    return found
