"""The Pulumi program: load this stack's spec, build its registry, export what downstream jobs read."""

import gc

from components.environment import Environment, EnvironmentArgs, export_outputs
from components.spec import load_from_pulumi, mlflow_password, webhook_secrets

# The SDK keeps a large graph of live objects that the cyclic GC walks again and again: this cuts the
# program's CPU by about a third at 1000 models (docs/benchmarks.md, section 1).
gc.freeze()
gc.set_threshold(50_000, 20, 100)

spec = load_from_pulumi()  # validates everything first: bad config creates nothing
env = Environment(
    "registry",
    EnvironmentArgs(spec=spec, mlflow_password=mlflow_password(spec), webhook_secrets=webhook_secrets(spec)),
)

export_outputs(spec, env)
