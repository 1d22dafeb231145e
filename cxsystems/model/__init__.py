"""The model layer: a loaded model, its scenarios, analysis settings, uncertain ranges and policy
levers (see ``docs/architecture.md``). The public names are reachable from ``cxsystems`` itself."""
