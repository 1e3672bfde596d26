"""The node agent's pure parts, imported from hack/ (the package `cluster`)."""

import sys
from pathlib import Path

# hack/ is the import root of the local cluster's code (never the repository root, whose
# operator/ folder would shadow the standard library).
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "hack"))
