"""Signatures and attestations of an image's digest, in cosign's layout: made and checked by
cosign itself, read and carried between registries here."""
