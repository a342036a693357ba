"""The `cjo` command line (Typer). One module per command group; cli.main wires them."""
