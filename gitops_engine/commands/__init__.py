"""One module per subcommand; each is a function of plain arguments returning an exit code."""
