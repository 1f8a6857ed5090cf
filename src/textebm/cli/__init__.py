"""Command line: one thin module per job, each with `register(subparsers)`."""
