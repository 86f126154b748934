"""Benchmarks of the local stack (run as modules, e.g. `python -m bench.durable_bench`)."""
