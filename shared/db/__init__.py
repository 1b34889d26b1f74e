"""The database: engine, models, migrations and bulk loading."""
