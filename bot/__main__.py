"""`python -m bot`: the same as the `gridshop` command."""

from .cli import entry

entry()
