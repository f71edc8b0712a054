"""Serving the console's built files at /ui: index.html at /ui and /ui/, the rest under /ui/assets/.

The files hold no data, so they need no key; the API calls they make do. Every /ui answer carries a strict
Content-Security-Policy (scripts, styles, fonts and connections from this origin only, no inline code, no
framing) and asks the browser not to guess types or send referrers. StaticFiles serves nothing outside the
folder: a path that leaves it (`..`, a symbolic link out) is a 404.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
NOT_BUILT = (
    "The console is not built into this installation: {folder} holds no index.html. "
    "Build it with `npm ci && npm run build` in the repository's console/ folder."
)


class ConsoleFiles(StaticFiles):
    """StaticFiles with the console's headers on every answer, and a clear 404 when the console is not built."""

    async def check_config(self) -> None:
        """A folder not made yet is the unbuilt console's 404 (get_response), not a server error."""
        if Path(str(self.directory)).is_dir():
            await super().check_config()

    async def get_response(self, path: str, scope: Scope) -> Response:
        if not (Path(str(self.directory)) / "index.html").is_file():
            response: Response = PlainTextResponse(NOT_BUILT.format(folder=self.directory), status_code=404)
        else:
            try:
                response = await super().get_response(path, scope)
            except HTTPException as exc:
                response = PlainTextResponse(str(exc.detail), status_code=exc.status_code, headers=exc.headers)
        response.headers.update(SECURITY_HEADERS)
        return response


def install_console(app: FastAPI, directory: Path = STATIC_DIR) -> None:
    """Serve the console at /ui/ and at /ui itself (index.html, whose assets have absolute paths)."""
    files = ConsoleFiles(directory=directory, html=True, check_dir=False)

    @app.api_route("/ui", methods=["GET", "HEAD"], include_in_schema=False)
    async def console_index(request: Request) -> Response:
        return await files.get_response("index.html", request.scope)

    app.mount("/ui", files, name="console")
