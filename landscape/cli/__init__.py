"""The `landscape` command line: a Typer app over the `landscape` API."""
