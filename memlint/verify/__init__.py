"""``memlint verify``: run a script and its fixed copy in fresh processes, compare peak memory and output.

Kept free of imports: the probe (``memlint.verify.probe``) runs inside the measured process.
"""
