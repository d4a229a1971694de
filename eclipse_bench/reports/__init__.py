"""Reports: the run drill-down, the leaderboard and comparisons (self-contained HTML), the CI gate, exports, paper
tables and plots."""

__all__ = ["compare", "export", "html", "prior", "plots", "published", "render", "table"]
