"""Benchmarks: `make bench` runs each bench_*.py in its own process (see __main__.py)."""

# The last commit before issue 12's data-preparation work: the implementation that issue measured. The
# redaction and dedupe benchmarks load its modules with `git show` to run them beside today's.
ISSUE_12_BASELINE = "0e4eb5fe3cae9b3eca70a159b4dc2b71060884e3"
