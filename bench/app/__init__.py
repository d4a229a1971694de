"""The application: the command line, run options, the orchestration of a run (preflight, several processes), the
scoring stage and rescore, prior-eval."""

__all__ = ["cli", "distributed", "options", "preflight", "prior_eval", "rundir", "runner", "scoring"]
