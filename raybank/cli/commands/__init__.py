"""The commands, one module per group: each parses its words, calls the bank and finishes.

They are plain functions; raybank.cli.main registers them on the Typer app.
"""
