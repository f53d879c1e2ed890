"""Alembic migrations, shipped in the package and applied by `emailscan db upgrade`."""
