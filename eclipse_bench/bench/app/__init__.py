"""The application: the command line, run options (and the flags and --config files derived from them), the
orchestration of a run (preflight, several processes), the import of images made elsewhere (their layouts), the
scoring stage and rescore, prior-eval; whole benchmarks and checkpoint sweeps; the commands that read finished
runs; experiment trackers and the training-loop hooks."""

__all__ = ["callbacks", "cli", "distributed", "flags", "importer", "layouts", "multi", "options", "pipeline",
           "preflight", "prior_eval", "readers", "rundir", "runner", "scoring", "trackers"]
