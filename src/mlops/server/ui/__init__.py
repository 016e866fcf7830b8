"""The web UI: a single-page app of plain HTML, CSS and JavaScript modules, served as files.

Nothing is built at install time: ``static/`` ships in the wheel as it is in the repository.
The app talks to the REST API under ``/api/v1`` like any other client (the same token, the same
errors), so everything it shows is reachable from Python and the CLI too. ``/`` redirects to
``/ui/``; assets are under ``/ui/static/``; pages are addressed by the URL's fragment
(``/ui/#/experiments/1/runs``), so the server has one page to serve.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def mount_ui(app: FastAPI) -> None:
    """Serve the UI from ``app``: ``/`` and ``/ui`` lead to the page; assets are in /ui/static."""

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/")

    @app.get("/ui", include_in_schema=False)
    @app.get("/ui/", include_in_schema=False)
    def index() -> FileResponse:
        # Revalidated on every load, so an upgraded server is picked up at once.
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
