"""The `racs` command line (surfaces.md section 1); ``main`` is the console script."""

from racs.cli.app import main

__all__ = ["main"]
