"""linli (邻里): community group-buying backend. create_app builds the Flask app."""
from __future__ import annotations

import typing

if typing.TYPE_CHECKING:
    from app.config import Settings
    from app.factory import LinliOpenAPI


def create_app(settings: Settings | None = None) -> LinliOpenAPI:
    # Imported on call, the one function-level import of the package: app.factory imports every
    # domain, and every `import app.x` runs this file first, so importing it here at module level
    # would load the whole app (and close an import cycle) for a process that needs one model.
    from app.factory import create_app as build

    return build(settings)
