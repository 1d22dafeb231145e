"""``python -m cxsystems.cli``: same as the ``cxsystems`` console script."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
