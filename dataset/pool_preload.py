"""Imported once by the forkserver that starts ProcessPhotosFn's pool processes.

The per-photo code and the 64 MB colour table are loaded there, and every pool process forked from that clean
server shares them (copy-on-write) instead of importing and loading them again.
"""

from contracts import lab_table
from dataset import photo  # noqa: F401  # pylint: disable=unused-import

lab_table.table()
