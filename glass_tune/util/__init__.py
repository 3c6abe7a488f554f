"""Infrastructure every layer may use and that knows nothing of GLASS: one-line user errors (``errors``),
atomic writes (``atomic_io``), logs and notices, numbers for people, runtime setup, the cache folder
(``cache``) and the old names of moved modules (``legacy_names``)."""
