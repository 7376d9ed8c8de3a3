"""Benchmarks of the relay against same-run baselines; each module runs with `python -m bench.NAME`."""
