"""Business logic. Services take a SQLAlchemy session and plain values; they never touch
``flask.request``, the browser session or templates, so the CLI, the pages and the tests call
the same functions."""
