"""One module per subcommand; each `run` takes parsed arguments and returns an exit code."""
