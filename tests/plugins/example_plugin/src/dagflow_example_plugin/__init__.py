"""An example dagflow plugin distribution (see its pyproject.toml for the entry points)."""
