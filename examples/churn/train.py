"""Train the bundled customer-churn classifier and write model/ for the serving app.

The data is synthetic and generated from a fixed seed, so every run gives the same model and
the same metrics: `python train.py` reproduces the committed model/ byte for byte (for the
pinned scikit-learn and numpy versions).
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import joblib
import numpy as np
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

SEED = 20240601
ROWS = 4000
CONTRACTS = ("month-to-month", "one-year", "two-year")
# Serving feeds features as one array in this order, so it is also the order in model.json.
FEATURES: tuple[dict[str, object], ...] = (
    {"name": "tenure_months", "type": "int"},
    {"name": "monthly_charges", "type": "float"},
    {"name": "total_charges", "type": "float"},
    {"name": "contract", "type": "str", "categories": list(CONTRACTS)},
    {"name": "support_calls", "type": "int"},
    {"name": "has_internet", "type": "bool"},
)
CATEGORICAL = [i for i, feature in enumerate(FEATURES) if feature["type"] == "str"]
NUMERIC = [i for i, feature in enumerate(FEATURES) if feature["type"] != "str"]


def make_dataset(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Customers whose churn odds rise with short tenure, monthly contracts and support calls."""
    rng = np.random.default_rng(seed)
    contract = rng.choice(CONTRACTS, size=rows, p=[0.55, 0.25, 0.20])
    tenure = rng.integers(0, 73, size=rows)
    has_internet = rng.random(rows) < 0.78
    monthly = np.round(20 + 45 * has_internet + rng.normal(15, 12, size=rows).clip(0, 55), 2)
    total = np.round(monthly * tenure * rng.uniform(0.95, 1.05, size=rows), 2)
    support_calls = rng.poisson(1.2 + 1.3 * (contract == "month-to-month"), size=rows)
    logit = (
        -1.2
        + 1.5 * (contract == "month-to-month")
        - 1.0 * (contract == "two-year")
        - 0.045 * tenure
        + 0.025 * (monthly - 65)
        + 0.45 * support_calls
        + 0.3 * has_internet
    )
    churned = rng.random(rows) < 1 / (1 + np.exp(-logit))
    features = np.empty((rows, len(FEATURES)), dtype=object)
    features[:, 0] = tenure.tolist()
    features[:, 1] = monthly.tolist()
    features[:, 2] = total.tolist()
    features[:, 3] = contract.tolist()
    features[:, 4] = support_calls.tolist()
    features[:, 5] = has_internet.tolist()
    return features, np.where(churned, "churn", "stay")


def build_pipeline() -> Pipeline:
    # Columns are selected by position: the server sends a plain array, not a DataFrame.
    preprocess = ColumnTransformer(
        [
            ("numeric", StandardScaler(), NUMERIC),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        ]
    )
    return Pipeline([("preprocess", preprocess), ("classify", LogisticRegression(max_iter=1000))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=Path(__file__).parent / "model")
    parser.add_argument("--model-version", default="1.0.0")
    args = parser.parse_args()

    features, labels = make_dataset(ROWS, SEED)
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=0.25, random_state=SEED, stratify=labels
    )
    model = build_pipeline().fit(x_train, y_train)
    classes = [str(label) for label in model.classes_]
    churn_probability = model.predict_proba(x_test)[:, classes.index("churn")]
    metrics = {
        "accuracy": round(float(accuracy_score(y_test, model.predict(x_test))), 4),
        "roc_auc": round(float(roc_auc_score(y_test == "churn", churn_probability)), 4),
        "test_rows": len(y_test),
        "churn_rate": round(float(np.mean(labels == "churn")), 4),
    }
    print(f"accuracy {metrics['accuracy']:.4f}  roc_auc {metrics['roc_auc']:.4f}")

    args.output_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, args.output_dir / "model.joblib")
    metadata = {
        "format_version": 1,
        "name": "churn",
        "version": args.model_version,
        "framework": "sklearn",
        "artifact": "model.joblib",
        "features": list(FEATURES),
        "labels": classes,
        "metrics": metrics,
        "training": {
            "rows": ROWS,
            "seed": SEED,
            "python": ".".join(platform.python_version_tuple()[:2]),
            "sklearn_version": sklearn.__version__,
            "numpy_version": np.__version__,
        },
    }
    (args.output_dir / "model.json").write_text(json.dumps(metadata, indent=2) + "\n")
    print(f"wrote {args.output_dir / 'model.joblib'} and {args.output_dir / 'model.json'}")


if __name__ == "__main__":
    main()
