"""The package version, in one place (read by the CLI, the manifests and the report)."""

__version__ = "0.1.0"
