"""The package version, in a leaf module: the report, the store and the CLI read it here."""

__version__ = "0.1.0"
