"""``python -m hepjax.cli``: the same as the ``hepjax`` command."""

import sys

from . import main

sys.exit(main())
