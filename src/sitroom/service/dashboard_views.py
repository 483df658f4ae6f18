"""The routes of the dashboard's views beside the map and the timeline
(:mod:`sitroom.service.dashboard`): the tracks' graph and Gantt, the forecasts with their
series, the channels with phi, the map's marks — and acknowledging an alert. Each runs as the
bearer's user, like every route; what-if delays are ``POST /tracks/whatif/delay``.
"""

from __future__ import annotations

from fastapi import APIRouter

from sitroom.application import dashboard_views as views
from sitroom.service import params as p
from sitroom.service.json import JSON
from sitroom.service.routes import READ, WRITE, Name, Who

router = APIRouter(tags=["dashboard"])


@router.get("/views/tracks", response_model=None, responses=READ)
async def tracks(who: Who, as_of: p.AsOf = None) -> JSON:
    """The wait-for graph at the as-of moment with its knots in words, and the meetings,
    holdings and over-booked windows over time: the Tracks view."""
    at = p.when(as_of)
    return await who.answer(lambda r: views.tracks_view(r.session, as_of_ms=at))


@router.get("/views/forecasts", response_model=None, responses=READ)
async def forecasts(who: Who, as_of: p.AsOf = None) -> JSON:
    """Every question, whatever its status, with its latest forecast and the series of its
    aggregate and range over time: the Forecasts view."""
    at = p.when(as_of)
    return await who.answer(lambda r: views.forecasts_view(r.risk, r.session, as_of_ms=at))


@router.get("/views/channels", response_model=None, responses=READ)
async def channels(who: Who, as_of: p.AsOf = None) -> JSON:
    """What `sitroom channels status` says, with each channel's phi and the messages pending
    by priority: the Channels view."""
    at = p.when(as_of)
    return await who.answer(lambda r: views.channels_view(r.channels, r.session, as_of_ms=at))


@router.get("/views/map-marks", response_model=None, responses=READ)
async def map_marks(who: Who, as_of: p.AsOf = None) -> JSON:
    """Events that crossed a red line (the alerts' evidence) and the nearby conflicts that
    move a forecast, named, each with where its events are: the map's highlights."""
    at = p.when(as_of)
    return await who.answer(lambda r: views.map_marks(r.risk, r.session, as_of_ms=at))


@router.post("/alerts/{alert:path}/ack", response_model=None, responses=WRITE, tags=["world"])
async def alert_ack(who: Who, alert: Name) -> JSON:
    """Acknowledge an alert as you: one record in the alert's compartment (again: nothing
    new, ``new`` false); an alert you may not see is a 404, as an unknown one."""
    return await who.answer(lambda r: r.world.acknowledge(alert), writes=True)
