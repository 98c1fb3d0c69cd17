"""What the benchmarks and the end-to-end tests share: processes, database counters, reports."""
