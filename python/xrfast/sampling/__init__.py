"""Sampling: X-Ray sampling rules (head), tail sampling of assembled traces, example-trace
reservoirs and their configuration (docs/tail-sampling.md)."""
