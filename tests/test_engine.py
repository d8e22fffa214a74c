"""Which image store an engine uses, read from `docker info` as the engine reports it."""

from __future__ import annotations

from pipeline.engine.client import CONTAINERD_STORE, store_of


def test_the_containerd_store_is_named_by_its_driver_type() -> None:
    # What Docker 26 with the containerd snapshotter reports (Driver is the snapshotter).
    info = {"Driver": "overlayfs", "DriverStatus": [["driver-type", CONTAINERD_STORE]]}
    assert store_of(info) == CONTAINERD_STORE


def test_a_graph_driver_is_named_by_its_name() -> None:
    info = {"Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"]]}
    assert store_of(info) == "overlay2"
    assert store_of({}) == "unknown"
