"""Infrastructure every layer may use: one-line user errors, atomic writes, logging, runtime setup."""
