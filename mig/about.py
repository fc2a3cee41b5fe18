"""What mig is called and which release it is: one place, read by ``setup.cfg`` (the version)
and by ``mig --version``.

The import package and the command are ``mig``; the distribution on PyPI is
:data:`DISTRIBUTION` (``mig`` there is an unrelated project). Nothing reads the installed
distribution's metadata at run time, so the version shown is this code's, however it was
installed (a wheel, an editable checkout, a folder on ``PYTHONPATH``).
"""

from __future__ import annotations

#: The name to install: ``pip install 'mig-schema[pytest]'``.
DISTRIBUTION = "mig-schema"
#: This release (setup.cfg reads it: ``version = attr: mig.about.VERSION``).
VERSION = "0.1.0"
