"""``python -m fakescope.cli``."""

from . import main

main()
