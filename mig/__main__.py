"""``python -m mig``: the ``mig`` command."""

from .cli import main

main()
