"""``python -m srnas`` (and ``torchrun -m srnas``) = the ``srnas`` command."""
import sys

from srnas.cli import main

sys.exit(main())
