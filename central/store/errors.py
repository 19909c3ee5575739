"""What the store raises when the database cannot do the work."""


class StorageUnavailable(Exception):
    """The database could not do the unit of work (locked, full, I/O error, corrupt):
    nothing of it was kept, and the caller must not acknowledge what it was meant to
    store."""
