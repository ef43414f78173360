"""The Pulumi program: load this stack's spec, build its registry, export what downstream jobs read."""

import pulumi

from components.environment import Environment, EnvironmentArgs
from components.spec import load_from_pulumi

spec = load_from_pulumi()  # validates everything first: bad config creates nothing
env = Environment("registry", EnvironmentArgs(spec=spec))

pulumi.export("target", spec.target.kind)
pulumi.export("catalog", spec.catalog.name)
pulumi.export("models", env.model_names)
pulumi.export("aliasUris", env.alias_uris)
pulumi.export("grants", env.grants)
pulumi.export("unmanagedAliases", env.unmanaged_aliases)
