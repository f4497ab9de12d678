"""Imported once by the forkserver that starts ProcessPhotosFn's pool processes.

The per-photo code and the 64 MB colour table are loaded there, and every pool process forked from that clean
server shares them (copy-on-write) instead of importing and loading them again.

Importing it also makes the forkserver end with the process that started it (`pool.die_with_parent`), so that a
Beam process killed with SIGKILL leaves no forkserver behind (and the pool processes, which die with the
forkserver, none either).
"""

from contracts import lab_table
from dataset import photo  # noqa: F401  # pylint: disable=unused-import
from dataset import pool

pool.die_with_parent(pdeathsig=False)
lab_table.table()
