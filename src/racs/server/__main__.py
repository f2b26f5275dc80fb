"""``python -m racs.server [flags]``: the same as ``racs serve [flags]``."""

import sys

from racs.server.cli import main

sys.exit(main(sys.argv[1:]))
