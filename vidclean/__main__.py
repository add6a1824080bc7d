import sys

from vidclean.cli import main

sys.exit(main())
