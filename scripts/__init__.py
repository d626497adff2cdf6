"""Benchmarks and one-off tools, run from a checkout: ``python -m scripts.<name>`` (README, "Figures")."""
