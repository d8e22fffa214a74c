"""Promotion (`push`): the smoke-tested candidate gets the version's tags, without a rebuild.

`promote` orders and verifies the tags; `placement` is how one tag comes to point at the
candidate (registry-side, or through the engine); `report` is what it tells.
"""
