"""The training pipeline's part of the YAML example: register one signed version of its model.

The stack only pins aliases to versions that exist, are READY and carry a signature with inputs and
outputs, so this logs a small pyfunc model with `infer_signature`, registers it as a new version of
the example's model and points the training job's own alias, `Challenger`, at it. With versions
already there it adds nothing, unless `--new-version`. Prints the model's newest version.

Credentials: MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD from the environment, else the
repository's `.state/secrets.env` (the one `make mlflow-up` writes).

    python examples/yaml/register_version.py [--tracking-uri URL] [--model NAME] [--new-version]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

DEFAULT_MODEL = "yaml_example.churn_scorer"  # Pulumi.yaml's modelName default
STATE = Path(__file__).resolve().parents[2] / ".state"


def credentials_from_state(state_dir: Path) -> None:
    """Use the local server's admin credentials when the environment has none."""
    path = state_dir / "secrets.env"
    if os.environ.get("MLFLOW_TRACKING_PASSWORD") or not path.exists():
        return
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "MLFLOW_TRACKING_PASSWORD":
            os.environ["MLFLOW_TRACKING_PASSWORD"] = value.strip()
            os.environ.setdefault("MLFLOW_TRACKING_USERNAME", "admin")


def register(tracking_uri: str, model: str, *, new_version: bool = False) -> str:
    """Register a signed version of `model` unless it has one (or `new_version`); return the newest."""
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    class ChurnScorer(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        """A stand-in for a trained model: risk grows with days since the last login."""

        def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
            days = model_input["days_since_login"].astype(float)
            return pd.DataFrame({"churn_risk": (days / (days + 30.0)).round(3)})

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    if not client.search_registered_models(filter_string=f"name = '{model}'"):
        client.create_registered_model(model)  # no description or tags: the stack declares those
    versions = sorted(int(v.version) for v in client.search_model_versions(f"name = '{model}'"))
    if versions and not new_version:
        return str(versions[-1])

    example = pd.DataFrame({"days_since_login": [1.0, 14.0, 90.0], "seats": [5.0, 2.0, 1.0]})
    signature = infer_signature(example, ChurnScorer().predict(None, example))
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_experiment("/mrgov-yaml-example")
    with mlflow.start_run(run_name="churn-scorer"):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=ChurnScorer(),
            signature=signature,
            input_example=example,
            pip_requirements=["mlflow"],
        )
    version = client.create_model_version(
        model, source=info.model_uri, model_id=info.model_id, description="Trained by register_version.py",
        await_creation_for=0,
    )  # fmt: skip
    client.set_registered_model_alias(model, "Challenger", str(version.version))
    return str(version.version)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    )
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--new-version", action="store_true", help="register one more version")
    args = parser.parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    credentials_from_state(STATE)
    print(register(args.tracking_uri, args.model, new_version=args.new_version))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
