"""`python -m qoder_async`: the `qoder-async` command."""

from __future__ import annotations

import sys

from qoder_async._cli import main

if __name__ == "__main__":
    sys.exit(main())
