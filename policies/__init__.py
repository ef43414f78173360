"""The mrgov policy pack (see PulumiPolicy.yaml and docs/policies.md)."""
