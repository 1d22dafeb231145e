"""Compile a model into JavaScript from the numpy engine's representation (work in progress)."""

from __future__ import annotations


def model_to_js(model) -> str:
    """Return JavaScript source defining the global `CX_MODEL` for `model`."""
    raise NotImplementedError("model_to_js is being written")
