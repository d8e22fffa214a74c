"""Writes the model to /tmp/models/bert-base-uncased, as the article's download step does.

Offline stand-in for `snapshot_download("bert-base-uncased")`: a word-weight sentiment model.
"""

import json
from pathlib import Path

WEIGHTS = {
    "love": 3.0,
    "great": 2.5,
    "good": 1.5,
    "excellent": 3.0,
    "like": 1.0,
    "bad": -2.0,
    "hate": -3.0,
    "terrible": -3.0,
    "broken": -2.5,
    "not": -1.0,
}

target = Path("/tmp/models/bert-base-uncased")
target.mkdir(parents=True, exist_ok=True)
(target / "lexicon.json").write_text(json.dumps(WEIGHTS, sort_keys=True))
