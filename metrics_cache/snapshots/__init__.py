"""The daily snapshots: the metric registry, computing, storing and restoring them."""
