"""The benchmark suite of issue 6: run ``python bench/run.py`` (see bench/README.md)."""
