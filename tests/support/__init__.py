"""Helpers the tests (and bench/) import: `from tests.support.project import ...`."""
