"""The application: the command line, run options (and the flags and --config files derived from them), the
orchestration of a run (preflight, several processes), the import of images made elsewhere (their layouts), the
scoring stage and rescore, prior-eval; experiment trackers and the training-loop hooks."""

__all__ = ["callbacks", "cli", "distributed", "flags", "importer", "layouts", "options", "pipeline", "preflight",
           "prior_eval", "rundir", "runner", "scoring", "trackers"]
