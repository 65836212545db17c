import os
import sys

# `python -m memlint` puts the working directory first on sys.path, so a user's `copy.py` or `ast.py`
# would shadow the standard library inside memlint. Checked code is never imported; drop that entry.
if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from memlint.cli import main  # noqa: E402

sys.exit(main())
