"""The analysis layer: metrics and classification, comparisons, ensembles, robustness and the
explorer (see ``docs/architecture.md``). The public names are reachable from ``cxsystems`` itself."""
