"""``python -m optbench.bench``: the same as ``optbench bench``."""
import sys

from .compare import main

sys.exit(main())
