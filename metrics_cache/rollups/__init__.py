"""SLiMS tables folded incrementally into the service's own tables: the engine and its jobs."""
