"""One module per subcommand. Each has HELP, add_arguments(parser) and run(ctx) -> exit code."""
