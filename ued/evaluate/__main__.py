"""``python -m ued.evaluate run_dir=...``: see ``ued.evaluate.run``."""

import sys

from ued.evaluate.run import main

sys.exit(main())
