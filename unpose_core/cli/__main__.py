"""`python -m unpose_core.cli ...` runs `unposed ...`."""
import sys

from . import main

sys.exit(main())
