"""``python -m imgfeed`` runs the command line."""

import sys

from imgfeed.cli import main

sys.exit(main())
