"""Reports: the run drill-down, the leaderboard and comparisons (self-contained HTML), the CI gate, exports."""

__all__ = ["compare", "export", "html", "prior", "published", "render", "table"]
