"""Shared plumbing every layer may stand on: the error tree, retries, credential masking,
sizes and running tools that answer in JSON. It imports nothing else of the package."""
