"""The Pulumi program: load this stack's spec, build the registry, export what downstream jobs read."""

import pulumi

from components.mlflow.registered_model import RegisteredModel
from components.spec import MlflowTarget, load_from_pulumi

spec = load_from_pulumi()
models = {}
if isinstance(spec.target, MlflowTarget):
    for model in spec.models:
        models[model.name] = RegisteredModel(
            model.name,
            tracking_uri=spec.target.tracking_uri,
            name=spec.full_name(model),
            description=model.description,
        )
pulumi.export("models", {key: m.name for key, m in models.items()})
