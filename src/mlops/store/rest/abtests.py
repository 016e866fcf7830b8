"""``RestABTestStore``: the A/B test store interface, served by an mlops server.

Outcomes travel in batches of up to 10,000 units (grouped by unit, as the route takes them) and
come back as column pages, so a live test can be fed and analyzed from any machine that reaches
the server. The server checks each batch with the same rules as a local ``ABTestFramework``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import pandas as pd
from pydantic import TypeAdapter

from mlops.experiments.abtest.entities import ABTestRecord, Outcome
from mlops.experiments.abtest.store import OUTCOME_COLUMNS, ABTestStore, empty_outcomes
from mlops.store.rest.client import RestClient

_RECORD = TypeAdapter(ABTestRecord)
_RECORDS = TypeAdapter(list[ABTestRecord])
BATCH_UNITS = 10_000
PAGE = 50_000


def _path(name: str) -> str:
    return f"/api/v1/abtests/{quote(name, safe='')}"


class RestABTestStore(ABTestStore):
    """``ABTestStore`` over HTTP."""

    def __init__(self, client: RestClient):
        self.client = client
        self.backend = client

    def create_test(
        self,
        name: str,
        *,
        variants: Mapping[str, float],
        metrics: Sequence[str],
        duration_days: float,
        user: str,
        models: Mapping[str, str] | None = None,
        config: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> ABTestRecord:
        settings = {k: v for k, v in (config or {}).items() if k != "mode"}
        body = {
            "name": name,
            "variants": dict(variants),
            "metrics": list(metrics),
            "duration_days": duration_days,
            "models": dict(models or {}),
            "description": description,
            "user": user,
            **settings,
        }
        response = self.client.request("POST", "/api/v1/abtests", json_body=body, once=True)
        return _RECORD.validate_python(response.json())

    def get_test(self, name_or_id: str) -> ABTestRecord:
        return _RECORD.validate_python(self.client.request("GET", _path(name_or_id)).json())

    def list_tests(self, status: str | None = None, limit: int = 100) -> list[ABTestRecord]:
        params: dict[str, Any] = {"limit": limit}
        if status is not None:
            params["status"] = status
        data = self.client.request("GET", "/api/v1/abtests", params=params).json()
        return _RECORDS.validate_python(data["items"])

    def update_test(
        self,
        test_id: str,
        *,
        status: str | None = None,
        result: Mapping[str, Any] | None = None,
        models: Mapping[str, str] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> ABTestRecord:
        fields = {"status": status, "result": result, "models": models, "config": config}
        body = {
            k: dict(v) if isinstance(v, Mapping) else v for k, v in fields.items() if v is not None
        }
        response = self.client.request("PATCH", _path(test_id), json_body=body)
        return _RECORD.validate_python(response.json())

    def create_outcomes(self, test_id: str, outcomes: Sequence[Outcome]) -> int:
        units: dict[tuple[str, str, int], dict[str, float]] = {}
        for x in outcomes:
            units.setdefault((x.unit_id, x.variant, x.at), {})[x.metric] = x.value
        rows = [
            {"unit_id": unit, "variant": variant, "at": at, "values": values}
            for (unit, variant, at), values in units.items()
        ]
        written = 0
        for start in range(0, len(rows), BATCH_UNITS):
            body = {"outcomes": rows[start : start + BATCH_UNITS]}
            # Idempotent by nature: a re-sent batch replaces the same (unit, metric) values.
            response = self.client.request("POST", f"{_path(test_id)}/outcomes", json_body=body)
            written += int(response.json()["written"])
        return written

    def list_outcomes(
        self, test_id: str, limit: int | None = None, offset: int = 0
    ) -> pd.DataFrame:
        frames = []
        remaining = limit
        next_offset: int | None = offset
        while next_offset is not None and (remaining is None or remaining > 0):
            size = PAGE if remaining is None else min(PAGE, remaining)
            page = self.client.request(
                "GET",
                f"{_path(test_id)}/outcomes",
                params={"limit": size, "offset": next_offset},
            ).json()
            frames.append(pd.DataFrame({c: page[c] for c in OUTCOME_COLUMNS}))
            next_offset = page["next_offset"]
            if remaining is not None:
                remaining -= len(page["unit_id"])
        frames = [f for f in frames if not f.empty]
        if not frames:
            return empty_outcomes()
        return pd.concat(frames, ignore_index=True)

    def count_units(self, test_id: str) -> dict[str, int]:
        data = self.client.request("GET", f"{_path(test_id)}/units").json()
        return {k: int(v) for k, v in data["units"].items()}

    def record_promotion(self, test_id: str, model_name: str, version: int) -> None:
        self.client.request(
            "POST",
            f"{_path(test_id)}/promotions",
            json_body={"model": model_name, "version": version},
        )
