"""The HTTP service of racs (``racs serve``) and its dashboard."""

from racs.server.app import create_app
from racs.server.cli import main
from racs.server.openapi import openapi_document

__all__ = ["create_app", "main", "openapi_document"]
