"""MLflow target: a stack's registry on any MLflow tracking server, through the mrgov provider."""
