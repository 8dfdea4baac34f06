"""pgvector similarity search: k-NN, filtered k-NN and writes over clustered embeddings, with recall@k."""

from .workload import VectorWorkload

WORKLOAD = VectorWorkload

__all__ = ["VectorWorkload", "WORKLOAD"]
