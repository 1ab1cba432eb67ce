"""`celery -A workers.celery` entry point: a shim over the app factory."""

from pipeline.config import Settings
from workers.app import create_app

app = create_app(Settings.from_env())
