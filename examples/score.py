"""Use the governed registry: list each model as declared, then load one by alias and score a batch.

After `make up`, this shows that the registry is usable and governed:
- each model's description, tags, aliases and permissions (users and roles, with their levels);
- `models:/<catalog>.gold_features.cost_anomaly_detector@<alias>` loaded with `mlflow.pyfunc` and
  applied to 10 rows of fresh synthetic daily usage.

    python examples/score.py [--alias Production] [--catalog local_catalog] [--tracking-uri URL]

Credentials as for examples/train.py: the environment, else the local server's `.state/secrets.env`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

import train  # noqa: E402 - the sibling script: same data generator, same credentials lookup


def describe(tracking_uri: str, catalog: str, schema: str) -> None:
    from mlflow import MlflowClient

    from provider.auth.snapshot import snapshot

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    auth = snapshot(tracking_uri)
    for short in sorted(train.PLANS):
        name = f"{catalog}.{schema}.{short}"
        model = client.get_registered_model(name)
        print(f"\n{name}")
        lines = (model.description or "-").strip().splitlines()
        print(f"  description: {lines[0]}{' ...' if len(lines) > 1 else ''}")
        print(f"  tags:        {dict(sorted(model.tags.items()))}")
        print(f"  aliases:     {dict(sorted(model.aliases.items()))}")
        versions = sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))
        for v in versions:
            print(f"  version {v.version}: {v.status}, {v.description!r}")
        grants = {
            f"role {r.name}": g.permission
            for r in auth.roles.values()
            for (t, m), g in r.grants.items()
            if m == name
        }
        grants |= {
            f"user {u.username}": g.permission
            for u in auth.users.values()
            for (_, t, m), g in u.grants.items()
            if m == name
        }
        print(f"  permissions: {dict(sorted(grants.items())) or '-'}")


def score(tracking_uri: str, catalog: str, schema: str, alias: str) -> None:
    import mlflow
    import numpy as np
    from mlflow import MlflowClient

    name = f"{catalog}.{schema}.cost_anomaly_detector"
    uri = f"models:/{name}@{alias}"
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    aliases = dict(client.get_registered_model(name).aliases)
    if alias not in aliases:
        raise SystemExit(f"{name} has no alias {alias!r}; it has {aliases or 'none'} (pin one in the stack)")
    mlflow.set_registry_uri(tracking_uri)
    model = mlflow.pyfunc.load_model(uri)
    columns = [c.name for c in model.metadata.get_input_schema().inputs]
    batch = train.daily_usage(np.random.default_rng(2026)).tail(10)[columns]
    scored = model.predict(batch)
    print(f"\n{uri} (version {aliases[alias]}), 10 rows:")
    print(batch.assign(**{c: scored[c].to_numpy() for c in scored.columns}).round(3).to_string())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    )
    parser.add_argument("--catalog", default="local_catalog")
    parser.add_argument("--schema", default=train.SCHEMA)
    parser.add_argument("--alias", default="Production")
    parser.add_argument("--state", type=Path, default=ROOT / ".state")
    args = parser.parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    train._credentials_from_state(args.state)
    os.environ.setdefault("MLFLOW_TRACKING_URI", args.tracking_uri)
    describe(args.tracking_uri, args.catalog, args.schema)
    score(args.tracking_uri, args.catalog, args.schema, args.alias)
    return 0


if __name__ == "__main__":
    sys.exit(main())
