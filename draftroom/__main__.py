import sys

from draftroom.cli import main

sys.exit(main())
