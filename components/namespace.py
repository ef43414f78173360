"""The namespace of the stack spec's config keys (`mrgov:models`, `mrgov:webhooks`, ...).

It is the project's name in Pulumi.yaml, the namespace Pulumi gives a config key that names none
(https://www.pulumi.com/docs/iac/concepts/config/). One home, below the spec and the rules.
"""

NAMESPACE = "mrgov"
