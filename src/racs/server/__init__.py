"""The HTTP service of racs (``racs serve``) and its dashboard."""

from .app import create_app
from .cli import main
from .openapi import openapi_document

__all__ = ["create_app", "main", "openapi_document"]
