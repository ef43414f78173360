"""The Pulumi program: load this stack's spec, build its registry, export what downstream jobs read."""

import gc

import pulumi

from components.environment import Environment, EnvironmentArgs
from components.spec import load_from_pulumi

# The SDK keeps a large graph of live objects that the cyclic GC walks again and again: this cuts the
# program's CPU by about a third at 1000 models (docs/benchmarks.md, section 1).
gc.freeze()
gc.set_threshold(50_000, 20, 100)

spec = load_from_pulumi()  # validates everything first: bad config creates nothing
env = Environment("registry", EnvironmentArgs(spec=spec))

pulumi.export("target", spec.target.kind)
pulumi.export("catalog", spec.catalog.name)
pulumi.export("models", env.model_names)
pulumi.export("aliasUris", env.alias_uris)
pulumi.export("grants", env.grants)
pulumi.export("unmanagedAliases", env.unmanaged_aliases)
