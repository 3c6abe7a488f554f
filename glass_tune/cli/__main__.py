"""``python -m glass_tune.cli``: how Ray jobs and tests start the CLI."""

import sys

from glass_tune.cli.main import main

sys.exit(main())
