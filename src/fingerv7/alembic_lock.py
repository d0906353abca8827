"""One Alembic command at a time in this process.

Alembic runs a migration through module-level proxies (`alembic.context`, `alembic.op`) that each
command installs and then removes, so two threads migrating at once (two workers in one process
opening their catalogs) remove each other's: `KeyError: 'script'`, and a worker reports its
catalog unreachable. Across processes, PostgreSQL advisory locks serialise migrations; within one
process, this lock does. Take it before any database lock.
"""

from __future__ import annotations

import threading

ALEMBIC_LOCK = threading.Lock()
