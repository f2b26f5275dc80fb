"""`python -m racs.cli`: the same as the `racs` console script."""

import sys

from racs.cli.app import main

sys.exit(main())
