"""Evaluation: metrics through local `evaluate` modules, safety probes, and the promotion gate."""
