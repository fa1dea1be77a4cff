"""Run directories, metric logs, comparisons and reports."""
