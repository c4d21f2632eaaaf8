import sys

from photofind.cli import main

sys.exit(main())
