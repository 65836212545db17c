"""The shared analysis every rule queries: one file's imports, guards, loops and value flows
(``file.py``, ``flow.py``), the value domain (``values.py``), library facts (``facts.py``), and the
project index that joins files (``project.py``)."""
