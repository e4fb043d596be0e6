"""Entry point: `python3 -m mrelay --help` (see mrelay/cli.py)."""

import sys

from .cli import main

sys.exit(main())
