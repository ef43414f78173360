"""Train the seed's three models on synthetic data and register their versions in an MLflow registry.

The demo behind `make up`: it gives the `local` stack real versions to pin aliases to. Each model is
registered as `<catalog>.gold_features.<model>` and gets the versions in its plan below (at least two,
so pins to 1 and 2 resolve), each logged with a signature (inputs and outputs), an input example,
metrics and a version description. The data is generated here, small, from a fixed seed: a run takes
seconds.

Each model is trained on the first part of its data and scored on a held-out part it never saw; the
run logs those validation metrics (`val_f1` for the two classifiers, `val_rmse` for the forecaster),
which the stack's promotion gates compare (registry.yaml `gates`, docs/config.md).

- cost_anomaly_detector: Isolation Forest on daily DBU/cost with 7-day averages and z-scores; outputs
  anomaly_score (lower is more anomalous) and is_anomaly.
- budget_forecaster: gradient-boosted regression of month-end cost; outputs the forecast and the
  probability of exceeding the monthly budget.
- failure_predictor: random forest on job-run history; outputs failure_probability and is_at_risk.

Re-running adds nothing when a model already has its planned versions; `--new-version` retrains the
latest feature set and registers one more version of each model. Credentials: MLFLOW_TRACKING_USERNAME
and MLFLOW_TRACKING_PASSWORD from the environment, else the local server's `.state/secrets.env`.

    python examples/train.py [--tracking-uri URL] [--catalog local_catalog] [--new-version]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "gold_features"
EXPERIMENT = "/mrgov-demo"
PIP_REQUIREMENTS = ["mlflow==3.17.2", "scikit-learn", "pandas", "numpy"]  # saves MLflow inferring them


# --------------------------------------------------------------------------------------------------
# Synthetic data
# --------------------------------------------------------------------------------------------------
def daily_usage(rng: np.random.Generator, days: int = 240) -> pd.DataFrame:
    """Daily DBU and cost of one workspace, weekly seasonality, a slow trend and injected spikes."""
    t = np.arange(days)
    dbu = 400 + 0.4 * t + 60 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 20, days)
    spikes = rng.random(days) < 0.05
    dbu = np.where(spikes, dbu * rng.uniform(1.8, 3.0, days), dbu)
    price = 0.55 + rng.normal(0, 0.01, days)
    frame = pd.DataFrame(
        {"daily_dbu": dbu, "daily_cost": dbu * price, "injected_anomaly": spikes.astype(int)}
    )
    frame.index = pd.date_range("2025-01-01", periods=days, freq="D")
    for col, short in (("daily_dbu", "dbu"), ("daily_cost", "cost")):
        for window in (7, 30):
            mean = frame[col].rolling(window).mean().shift(1)
            std = frame[col].rolling(window).std().shift(1)
            frame[f"avg_{short}_{window}d"] = mean
            frame[f"{short}_zscore_{window}d"] = (frame[col] - mean) / std
    return frame.dropna()


def month_to_date(rng: np.random.Generator, months: int = 18) -> pd.DataFrame:
    """One row per day: spend so far this month and rolling averages; target: the month's total."""
    rows = []
    for m in range(months):
        start = pd.Timestamp("2024-01-01") + pd.DateOffset(months=m)
        n_days = start.days_in_month
        level = rng.uniform(8_000, 14_000) / 30
        daily = level * (1 + 0.2 * np.sin(2 * np.pi * np.arange(n_days) / 7)) + rng.normal(
            0, level * 0.1, n_days
        )
        daily = np.clip(daily, 0, None)
        total = daily.sum()
        budget = total * rng.uniform(0.85, 1.2)
        for d in range(n_days):
            seen = daily[: d + 1]
            rows.append(
                {
                    "day_of_month": float(d + 1),
                    "days_in_month": float(n_days),
                    "cost_to_date": float(seen.sum()),
                    "daily_cost": float(daily[d]),
                    "avg_cost_7d": float(seen[-7:].mean()),
                    "avg_cost_30d": float(seen[-30:].mean()),
                    "day_of_week": float((start + pd.Timedelta(days=d)).day_of_week),
                    "monthly_budget": float(budget),
                    "month_end_cost": float(total),
                }
            )
    return pd.DataFrame(rows)


def job_runs(rng: np.random.Generator, runs: int = 1500) -> pd.DataFrame:
    """Scheduled job runs and whether the next run failed."""
    frame = pd.DataFrame(
        {
            "recent_failure_rate": rng.beta(1.2, 8, runs),
            "duration_drift": rng.lognormal(0, 0.25, runs),
            "num_workers": rng.integers(1, 17, runs).astype(float),
            "spot_ratio": rng.uniform(0, 1, runs),
            "hours_since_last_success": rng.exponential(20, runs),
        }
    )
    logit = (
        -3.0
        + 6.0 * frame["recent_failure_rate"]
        + 2.0 * (frame["duration_drift"] - 1)
        + 1.2 * frame["spot_ratio"]
        + 0.02 * frame["hours_since_last_success"]
    )
    frame["failed"] = (rng.random(runs) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


# --------------------------------------------------------------------------------------------------
# Models: pyfunc wrappers so that each one outputs its documented columns
# --------------------------------------------------------------------------------------------------
class AnomalyModel(mlflow.pyfunc.PythonModel):
    """Isolation Forest: anomaly_score (decision function; lower is more anomalous) and is_anomaly."""

    def __init__(self, forest: Any, features: list[str]) -> None:
        self.forest = forest
        self.features = features

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        x = model_input[self.features]
        return pd.DataFrame(
            {
                "anomaly_score": self.forest.decision_function(x).astype(float),
                "is_anomaly": (self.forest.predict(x) == -1).astype("int64"),
            }
        )


class ForecastModel(mlflow.pyfunc.PythonModel):
    """Month-end cost forecast, and the probability it exceeds `monthly_budget` (normal residuals)."""

    def __init__(self, regressor: Any, features: list[str], residual_std: float) -> None:
        self.regressor = regressor
        self.features = features
        self.residual_std = residual_std

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        forecast = self.regressor.predict(model_input[self.features]).astype(float)
        z = (model_input["monthly_budget"].to_numpy(float) - forecast) / max(self.residual_std, 1e-9)
        p_over = 0.5 * (1 - np.vectorize(math.erf)(z / math.sqrt(2)))
        return pd.DataFrame({"forecast_month_end_cost": forecast, "p_over_budget": p_over.astype(float)})


class FailureModel(mlflow.pyfunc.PythonModel):
    """Failure probability of a job's next run, and is_at_risk (probability >= threshold)."""

    def __init__(self, classifier: Any, features: list[str], threshold: float = 0.5) -> None:
        self.classifier = classifier
        self.features = features
        self.threshold = threshold

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        proba = self.classifier.predict_proba(model_input[self.features])[:, 1].astype(float)
        return pd.DataFrame(
            {"failure_probability": proba, "is_at_risk": (proba >= self.threshold).astype("int64")}
        )


@dataclass(frozen=True)
class Trained:
    model: Any
    example: pd.DataFrame
    metrics: dict[str, float]
    params: dict[str, Any]


def f1(predicted: np.ndarray, truth: np.ndarray) -> float:
    """F1 of 0/1 predictions against 0/1 labels (0 when nothing is predicted or true)."""
    hits = float((predicted.astype(int) & truth.astype(int)).sum())
    precision = hits / max(float(predicted.sum()), 1.0)
    recall = hits / max(float(truth.sum()), 1.0)
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def train_anomaly(rng: np.random.Generator, features: list[str], contamination: float) -> Trained:
    from sklearn.ensemble import IsolationForest

    data = daily_usage(rng, days=480)
    # Every 4th day is held out (a chronological split would put the trend's highest days in it); the
    # spikes injected on those days are the validation labels.
    every = np.arange(len(data)) % 4
    train, held_out = data[every != 3], data[every == 3]
    forest = IsolationForest(n_estimators=100, contamination=contamination, random_state=0).fit(
        train[features]
    )
    wrapped = AnomalyModel(forest, features)
    flagged = wrapped.predict(None, data)["is_anomaly"].to_numpy()
    truth = data["injected_anomaly"].to_numpy()
    hits = float((flagged & truth).sum())
    val_flagged = wrapped.predict(None, held_out)["is_anomaly"].to_numpy()
    metrics = {
        "anomaly_rate": float(flagged.mean()),
        "precision": hits / max(float(flagged.sum()), 1.0),
        "recall": hits / max(float(truth.sum()), 1.0),
        "val_f1": f1(val_flagged, held_out["injected_anomaly"].to_numpy()),
    }
    return Trained(
        wrapped, data[features].head(10), metrics, {"contamination": contamination, "n_estimators": 100}
    )


def train_forecaster(rng: np.random.Generator, features: list[str], _unused: float = 0.0) -> Trained:
    from sklearn.ensemble import GradientBoostingRegressor

    data = month_to_date(rng)
    train, test = data.iloc[: int(len(data) * 0.8)], data.iloc[int(len(data) * 0.8) :]
    reg = GradientBoostingRegressor(n_estimators=120, max_depth=3, random_state=0)
    reg.fit(train[features], train["month_end_cost"])
    residuals = test["month_end_cost"] - reg.predict(test[features])
    std = float(residuals.std())
    columns = [*features, *(["monthly_budget"] if "monthly_budget" not in features else [])]
    # The last 20% of the days (the latest months) are held out; val_rmse is the forecast error there.
    metrics = {
        "mae": float(residuals.abs().mean()),
        "residual_std": std,
        "val_rmse": float(np.sqrt((residuals**2).mean())),
    }
    return Trained(ForecastModel(reg, features, std), test[columns].head(10), metrics, {"n_estimators": 120})


def train_failures(rng: np.random.Generator, features: list[str], _unused: float = 0.0) -> Trained:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score

    data = job_runs(rng)
    train, test = data.iloc[:1200], data.iloc[1200:]
    clf = RandomForestClassifier(n_estimators=60, max_depth=6, random_state=0).fit(
        train[features], train["failed"]
    )
    proba = clf.predict_proba(test[features])[:, 1]
    truth = test["failed"].to_numpy()
    # Runs 1200 and later are held out; val_f1 scores is_at_risk (probability >= 0.5) on them.
    metrics = {
        "auc": float(roc_auc_score(truth, proba)),
        "failure_rate": float(data["failed"].mean()),
        "val_f1": f1(proba >= 0.5, truth),
    }
    return Trained(FailureModel(clf, features), test[features].head(10), metrics, {"n_estimators": 60})


@dataclass(frozen=True)
class VersionPlan:
    description: str
    features: list[str]
    knob: float = 0.0


@dataclass(frozen=True)
class ModelPlan:
    train: Callable[[np.random.Generator, list[str], float], Trained]
    versions: tuple[VersionPlan, ...]


_BASE = ["daily_dbu", "daily_cost", "avg_dbu_7d", "avg_cost_7d"]
_FORECAST = ["day_of_month", "days_in_month", "cost_to_date", "daily_cost", "avg_cost_7d"]
_JOBS = ["recent_failure_rate", "num_workers", "spot_ratio"]

# The versions each model gets, in order; descriptions match registry.yaml's versionDescriptions.
PLANS: dict[str, ModelPlan] = {
    "cost_anomaly_detector": ModelPlan(
        train_anomaly,
        (
            VersionPlan("Initial version", _BASE, 0.08),
            VersionPlan("Added z-score features", [*_BASE, "dbu_zscore_7d", "cost_zscore_7d"], 0.08),
            VersionPlan(
                "Retrained with 30-day lookback features. Improved anomaly rate from 8% to 5%.",
                [*_BASE, "dbu_zscore_7d", "cost_zscore_7d", "avg_cost_30d", "cost_zscore_30d"],
                0.05,
            ),
        ),
    ),
    "budget_forecaster": ModelPlan(
        train_forecaster,
        (
            VersionPlan("Initial version", _FORECAST),
            VersionPlan(
                "Added calendar features and 30-day rolling averages.",
                [*_FORECAST, "avg_cost_30d", "day_of_week"],
            ),
        ),
    ),
    "failure_predictor": ModelPlan(
        train_failures,
        (
            VersionPlan("Initial version", _JOBS),
            VersionPlan(
                "Added run duration drift and time since the last success.",
                [*_JOBS, "duration_drift", "hours_since_last_success"],
            ),
        ),
    ),
}


# --------------------------------------------------------------------------------------------------
# Registering
# --------------------------------------------------------------------------------------------------
def _credentials_from_state(state_dir: Path) -> None:
    # `make up` keeps the local admin password in .state/secrets.env; the environment wins.
    if os.environ.get("MLFLOW_TRACKING_PASSWORD") or os.environ.get("MLFLOW_TRACKING_TOKEN"):
        return
    path = state_dir / "secrets.env"
    if not path.exists():
        return
    values = dict(
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    if "MLFLOW_TRACKING_PASSWORD" in values:
        os.environ["MLFLOW_TRACKING_PASSWORD"] = values["MLFLOW_TRACKING_PASSWORD"].strip()
        os.environ.setdefault(
            "MLFLOW_TRACKING_USERNAME", values.get("MLFLOW_TRACKING_USERNAME", "admin").strip()
        )


def existing_versions(client: Any, name: str) -> list[int]:
    """Version numbers of a registered model; [] when it does not exist yet."""
    try:
        client.get_registered_model(name)
    except Exception as exc:
        if getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST":
            return []
        raise
    return sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'"))


def log_version(
    client: Any, name: str, plan: ModelPlan, index: int, rng: np.random.Generator, note: str, seed: int
) -> str:
    """Train version `index` of a plan (the last one again if beyond it); register it; return its number.

    The planned versions of a model train on one dataset (from `seed`), so their validation metrics
    differ by what each version changes; a retrain beyond the plan draws fresh data from `rng`.
    """
    from mlflow.models import infer_signature

    spec = plan.versions[min(index, len(plan.versions) - 1)]
    data_rng = np.random.default_rng(seed) if index < len(plan.versions) else rng
    trained = plan.train(data_rng, spec.features, spec.knob)
    output = trained.model.predict(None, trained.example)
    signature = infer_signature(trained.example, output)
    with mlflow.start_run(run_name=f"{name.rsplit('.', 1)[-1]}-v{index + 1}") as run:
        mlflow.log_params({**trained.params, "features": ",".join(spec.features)})
        mlflow.log_metrics(trained.metrics)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=trained.model,
            signature=signature,
            input_example=trained.example,
            pip_requirements=PIP_REQUIREMENTS,
        )
    version = client.create_model_version(
        name,
        source=info.model_uri,
        run_id=run.info.run_id,
        description=note or spec.description,
        model_id=info.model_id,
        await_creation_for=0,  # the server registers synchronously: waiting would only sleep
    )
    return str(version.version)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    )
    parser.add_argument("--catalog", default="local_catalog")
    parser.add_argument("--schema", default=SCHEMA)
    parser.add_argument("--models", nargs="*", choices=sorted(PLANS), default=sorted(PLANS))
    parser.add_argument("--new-version", action="store_true", help="register one more version of each model")
    parser.add_argument("--state", type=Path, default=ROOT / ".state", help="where make keeps secrets.env")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    _credentials_from_state(args.state)
    import cloudpickle
    from mlflow import MlflowClient

    # Pickle the wrapper classes by value, so a model loads wherever this file is not importable.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    mlflow.set_tracking_uri(args.tracking_uri)
    mlflow.set_registry_uri(args.tracking_uri)
    mlflow.set_experiment(EXPERIMENT)
    client = MlflowClient(tracking_uri=args.tracking_uri, registry_uri=args.tracking_uri)
    started = time.monotonic()
    for short in args.models:
        plan = PLANS[short]
        name = f"{args.catalog}.{args.schema}.{short}"
        have = existing_versions(client, name)
        if not have:
            # Without description or tags: the stack declares those, and adopts the model.
            client.create_registered_model(name)
        wanted = max(len(plan.versions), 2)
        todo = list(range(len(have), wanted))
        if args.new_version:
            todo = todo or [len(have)]
        if not todo:
            print(f"{name}: has versions {have}; nothing to do (--new-version adds one)")
            continue
        rng = np.random.default_rng(args.seed + len(have))
        for index in todo:
            note = (
                ""
                if index < len(plan.versions)
                else "Retrained on fresh synthetic data with the latest features."
            )
            version = log_version(client, name, plan, index, rng, note, args.seed)
            print(f"{name}: registered version {version}")
    print(f"done in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
