"""Benchmarks (`cjo bench`). Each is `bench/<name>.py` with `run(quick: bool) -> BenchReport`.

Machines here are noisy, so every benchmark also measures a baseline in the same run and reports
the ratio; absolute figures are for orientation only.
"""
