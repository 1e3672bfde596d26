"""`python -m kubetune.cli ...` is `kubetune ...`."""

import sys

from kubetune.cli.main import main

sys.exit(main())
