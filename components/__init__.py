"""Model-registry governance as code: Pulumi components for Unity Catalog and MLflow."""
