"""Flask extensions shared across blueprints."""

from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
