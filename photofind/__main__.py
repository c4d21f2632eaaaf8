import sys

from photofind.launch import main

sys.exit(main())
