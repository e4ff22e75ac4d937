"""The command line: the Typer app, batch, and rendering for people and scripts."""
