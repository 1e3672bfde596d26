"""``python -m cluster up|down|status`` (with hack/ on PYTHONPATH)."""

import sys

from .cluster import main

sys.exit(main())
