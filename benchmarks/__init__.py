"""Benchmarks: a deterministic registry workload, and MLflow measured on the same data.

``benchmarks.workload`` generates the logical workload (models, versions,
metrics, curves, lineage, stage history) and writes it straight into the
catalog format of SPEC section 1; ``benchmarks.mlflow_side`` loads the very
same records into MLflow and times the equivalent queries.
"""
