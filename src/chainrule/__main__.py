"""``python -m chainrule``: the same command line as the ``chainrule`` script."""

import sys

from chainrule.cli.main import main

sys.exit(main())
