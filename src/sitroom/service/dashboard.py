"""The dashboard: its page and files at ``/`` and ``/static/...`` (everything it loads ships in
the package: no CDN, no tile server, system fonts), the basemap drawn from the Natural Earth
shapes already shipped, and the few reads only it needs — events in grid cells, the log's
arrivals over time, records by id — each as the bearer's user, like every read.
"""

from __future__ import annotations

import functools
from pathlib import Path as FilePath
from typing import Annotated

import orjson
from fastapi import APIRouter, FastAPI, Query, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from sitroom.application import dashboard
from sitroom.service import params as p
from sitroom.service.json import JSON
from sitroom.service.routes import READ, Who

STATIC = FilePath(__file__).resolve().parent / "static"
# The page loads nothing from anywhere but this server: the browser is told so as well.
POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SIMPLIFY_DEG = 0.06  # a basemap point closer than this to the last one kept is dropped

router = APIRouter(tags=["dashboard"])


def install(app: FastAPI) -> None:
    from sitroom.service import dashboard_views

    app.include_router(router)
    app.include_router(dashboard_views.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The dashboard (no token: it logs in from the page)."""
    return FileResponse(
        STATIC / "index.html",
        headers={"Content-Security-Policy": POLICY, "Cache-Control": "no-cache"},
    )


@router.get("/map/basemap", include_in_schema=False)  # a file of the page's, like /static
async def basemap() -> Response:
    """The Natural Earth countries as SVG path data in plain lon/lat (x = lon, y = -lat): the
    map's basemap, from the shapes shipped in the package (no token: public-domain shapes)."""
    return Response(
        _basemap(), media_type="application/json", headers={"Cache-Control": "max-age=86400"}
    )


@functools.cache
def _basemap() -> bytes:
    from sitroom.adapters.maps import countries

    out = []
    for c in sorted(countries().by_numeric.values(), key=lambda c: c.name):
        rings = []
        for polygon in c.polygons:
            for ring in polygon:
                kept: list[str] = []
                last = None
                for lon, lat in ring.tolist():
                    if last is not None and (
                        abs(lon - last[0]) < SIMPLIFY_DEG and abs(lat - last[1]) < SIMPLIFY_DEG
                    ):
                        continue
                    last = (lon, lat)
                    kept.append(f"{lon:.1f} {-lat:.1f}")
                if len(kept) >= 3:
                    rings.append("M" + "L".join(kept) + "Z")
        out.append({"id": c.numeric, "name": c.name, "d": "".join(rings)})
    return orjson.dumps({"countries": out})


@router.get("/map", response_model=None, responses=READ)
async def map_cells(
    who: Who,
    as_of: p.AsOf = None,
    since: p.Since = None,
    until: p.Until = None,
    cell: Annotated[float, Query(ge=0.1, le=30, description="A cell's side, degrees.")] = 1.0,
    bbox: Annotated[
        str | None, Query(max_length=100, description="Only the cells overlapping S,W,N,E.")
    ] = None,
    sources: Annotated[
        str | None,
        Query(max_length=1000, description="Only the events of these sources: a,b (default all)."),
    ] = None,
) -> JSON:
    """Events counted in grid cells by QuadClass (never the points themselves), of the sources
    you choose, every source's events, and the venues of the tracks you may see with their
    radius rings."""
    span = p.when(since), p.when(until), p.when(as_of)
    return await who.answer(
        lambda r: dashboard.map_cells(
            r.session,
            as_of_ms=span[2],
            since_ms=span[0],
            until_ms=span[1],
            cell_deg=cell,
            bbox=None if bbox is None else dashboard.box(bbox),
            sources=None if sources is None else dashboard.source_names(sources),
        )
    )


@router.get("/timeline", response_model=None, responses=READ)
async def timeline(
    who: Who, as_of: p.AsOf = None, buckets: Annotated[int, Query(ge=1, le=1000)] = 48
) -> JSON:
    """How many records you may see arrived over time: the as-of slider's range."""
    at = p.when(as_of)
    return await who.answer(lambda r: dashboard.timeline(r.session, as_of_ms=at, buckets=buckets))


@router.get("/records", response_model=None, responses=READ)
async def records(
    who: Who,
    id: Annotated[list[str], Query(min_length=1, max_length=dashboard.MAX_IDS)],
    as_of: p.AsOf = None,
) -> JSON:
    """Records by id, as `sitroom export` writes them (an alert's evidence): those you may
    see; the others are listed as missing, hidden or not, alike."""
    at = p.when(as_of)
    return await who.answer(lambda r: dashboard.records(r.session, id, as_of_ms=at))
