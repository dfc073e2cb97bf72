"""printd benchmarks: scripts that print their figures (run them directly, e.g. `python bench/dispatch.py`)."""
