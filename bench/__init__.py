"""Benchmarks of the suite: a fleet simulator, baselines of its stack, and `make bench`."""
