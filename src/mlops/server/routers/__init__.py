"""One router per domain, each a thin adapter over a store: parse, call, return the entity."""

API_PREFIX = "/api/v1"
"""Every API route starts with it. Routers carry it themselves, so a route's own path is the
full template (``/api/v1/runs/{run_id}``), which is what request metrics are labelled with."""
