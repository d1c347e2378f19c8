"""`python -m nmt_keras ...`: see `nmt_keras.cli`."""

import sys

from nmt_keras.cli import main

sys.exit(main())
