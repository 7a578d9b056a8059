"""One module per ``numpyvae`` subcommand.  Each defines ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int`` (the exit code)."""
