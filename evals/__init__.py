"""Quality evaluations (`cjo eval`). Each suite is `evals/suites/<name>.py` with `run()`."""
