"""One module per subcommand, each with HELP, add_arguments(parser) and run(ctx) -> exit code;
beside them the options they share (`options`) and what each receives (`context`)."""
