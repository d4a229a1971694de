"""Reports: aggregates with confidence intervals, self-contained HTML."""
