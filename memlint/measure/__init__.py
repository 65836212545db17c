"""Memory measurement shared by ``memlint estimate`` and ``memlint verify``.

Two sides. ``tracker`` and ``entry`` run inside the measured process, under the user's
interpreter (``--python``), so they import only the standard library and torch, never the rest
of memlint. ``workdir``, ``interpreter`` and ``child`` run in memlint's own process: they start
that process, tie its life to memlint's, and clean up after it.
"""
