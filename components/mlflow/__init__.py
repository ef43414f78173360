"""MLflow target: Python dynamic providers over MLflow's registry and permission APIs."""
