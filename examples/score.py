"""Use the governed registry: list each model as declared, then load one by alias and score a batch.

After `make up`, this shows that the registry is usable and governed:
- each model's description, tags, aliases and permissions (users and roles, with their levels);
- `models:/<catalog>.gold_features.cost_anomaly_detector@<alias>` loaded with `mlflow.pyfunc` and
  applied to 10 days drawn at random from fresh synthetic daily usage, made by the generator the model
  was trained on (examples/train.py `daily_usage`); it prints how many it flags, how many of those
  carry a spike the generator injected, and the share the version was trained to flag.

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
    # In distribution: days drawn at random across a fresh series of the training generator. The last
    # days of a series are not (the trend's highest, and the 7-day averages still carrying a spike),
    # which is why a batch of `.tail(10)` had 9 of its 10 rows flagged.
    days = train.daily_usage(np.random.default_rng(2026))
    batch = days.sample(10, random_state=2026).sort_index()
    scored = model.predict(batch[columns])
    flagged = scored["is_anomaly"].to_numpy().astype(bool)
    injected = batch["injected_anomaly"].to_numpy().astype(bool)
    version = client.get_model_version(name, aliases[alias])
    params = client.get_run(version.run_id).data.params if version.run_id else {}
    share = params.get("contamination")  # what the training run logged (examples/train.py)
    trained = f"about {float(share):.0%} of days (contamination {share})" if share else "by its own threshold"
    print(f"\n{uri} (version {aliases[alias]}), {len(batch)} days drawn from the training generator:")
    shown = batch[columns].assign(**{c: scored[c].to_numpy() for c in scored.columns})
    print(shown.assign(injected_spike=injected.astype(int)).round(3).to_string())
    print(
        f"flagged {int(flagged.sum())} of {len(batch)} days as anomalies ({int((flagged & injected).sum())} "
        f"of them injected spikes; the batch holds {int(injected.sum())}); the version was trained to flag "
        f"{trained}"
    )


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
