"""`python -m cauce.cli`, as `cauce`."""

import sys

from cauce.cli import main

sys.exit(main())
