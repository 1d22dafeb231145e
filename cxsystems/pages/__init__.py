"""Self-contained HTML pages: the workshop simulator and the leadership report (see
``docs/architecture.md``). The public names are reachable from ``cxsystems`` itself."""
