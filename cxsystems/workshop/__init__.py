"""Browser workshop: the model compiled to JavaScript and one self-contained HTML page.

`model_to_js(model)` turns a loaded model into JavaScript generated from the numpy
engine's representation (names as JSON strings, numbers as float literals, slots as
indices; never raw model text), defining one global `CX_MODEL` with `simulate()`.
"""

from .jsgen import model_to_js
from .page import write_workshop

__all__ = ["model_to_js", "write_workshop"]
