import sys

from aekit.cli import main

sys.exit(main())
