import sys

from inferonomics.cli import main

sys.exit(main())
