"""`python -m explorer ...` is the `explorer` command."""

import sys

from explorer.faces.cli.main import main

sys.exit(main())
