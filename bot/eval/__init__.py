"""Evaluation and measurement: Q&A files, metrics, the eval run, reports, plots, bench."""
