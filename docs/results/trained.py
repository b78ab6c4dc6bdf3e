"""Exit 0 if the PETS run folder ``argv[1]`` has completed all the trials its config.json
asks for (nothing is left to train), else 1.

    python docs/results/trained.py runs/halfcheetah-pets && echo done
"""

import json
import sys
from pathlib import Path

run = Path(sys.argv[1])
try:
    trials = json.loads((run / "config.json").read_text())["trials"]
    completed = json.loads((run / "checkpoints" / "state.json").read_text())["completed"]
except (OSError, KeyError, ValueError):
    sys.exit(1)
sys.exit(0 if completed >= trials else 1)
