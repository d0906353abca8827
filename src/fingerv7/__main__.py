"""`python -m fingerv7` is the `fingerv7` command."""

from fingerv7.cli.main import app

app()
