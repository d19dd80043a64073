"""The console's reading pages for auditors and operators: the latest sweep's findings, and people.

*Findings* shows the latest stored sweep (`iam review sweep`), filtered by
kind, system, department and manager, searched, sorted, with what is new and
resolved since the sweep before (`iam.sweep.diff`). *People* finds a person
among the identities iam knows and shows what they hold, read live from every
system (`iam.runs.status`: a system that could not be read says so, it is
never shown as empty), with their runs and audit records. A reviewer
without another role finds only their own people (and those of the managers
who delegate to them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from iam import runs, sweep
from iam.errors import IamError
from iam.web.reviews import may_decide_for
from iam.web.session import WebUser

if TYPE_CHECKING:
    from iam.web.console import Console
    from iam.web.operate import Operations

#: Columns a findings table may be sorted by.
SORTABLE = ("type", "system", "account", "entitlement", "department", "manager", "since")
FILTERS = ("type", "system", "department", "manager")


class Insight:
    """Findings and People, sharing the console's rendering and role checks."""

    def __init__(self, console: Console, operations: Operations) -> None:
        self.console = console
        self.allowed = operations._allowed
        self.rt = console.rt

    @property
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/findings", self.findings, methods=["GET"]),
            Route("/people", self.people, methods=["GET"]),
            Route("/people/{username}", self.person, methods=["GET"]),
        ]

    def _findings(self, params: dict[str, str]) -> dict[str, Any]:
        history = self.rt.store.sweeps(limit=1)
        if not history:
            return {"sweep": None}
        people = {row["username"]: row["attributes"] or {} for row in self.rt.store.identities()}
        rows = []
        for finding in history[0]["findings"]:
            attrs = people.get(finding["account"], {})
            rows.append({**finding, "department": attrs.get("department"), "manager": attrs.get("manager")})
        choices = {f: sorted({str(r[f]) for r in rows if r.get(f)}) for f in FILTERS}
        shown = [r for r in rows if all(not params.get(f) or str(r.get(f)) == params[f] for f in FILTERS)]
        query = params.get("q", "").strip().lower()
        if query:
            shown = [
                r for r in shown if any(query in str(r.get(k) or "").lower() for k in (*SORTABLE, "why"))
            ]
        key = params.get("sort") if params.get("sort") in SORTABLE else "type"
        shown.sort(key=lambda r: (str(r.get(key) or ""), r["account"]))
        diff = sweep.diff(self.rt)
        links = {c: "?" + urlencode({**params, "sort": c}) for c in SORTABLE}
        return {
            "sweep": history[0],
            "rows": shown,
            "total": len(rows),
            "choices": choices,
            "diff": diff,
            "sort_links": links,
        }

    async def findings(self, request: Request) -> Response:
        user = self.allowed(request, "auditor", "operator")
        if isinstance(user, Response):
            return user
        params = {k: v for k, v in request.query_params.items() if k in (*FILTERS, "q", "sort")}
        data = await run_in_threadpool(self._findings, params)
        return self.console.page(request, "findings.html", title="Findings", params=params, **data)

    def _sees(self, user: WebUser, identity: dict[str, Any] | None) -> bool:
        """Auditors and operators see everyone; a reviewer, the people they review."""
        if user.roles & {"auditor", "operator"}:
            return True
        manager = ((identity or {}).get("attributes") or {}).get("manager")
        if "reviewer" not in user.roles or not isinstance(manager, str) or not manager:
            return False
        return may_decide_for(self.rt, user.username, manager)

    async def people(self, request: Request) -> Response:
        user = self.allowed(request, "auditor", "operator", "reviewer")
        if isinstance(user, Response):
            return user
        query = request.query_params.get("q", "").strip().lower()
        rows = await run_in_threadpool(self.rt.store.identities) if query else []
        found = [
            r
            for r in rows
            if self._sees(user, r)
            and (
                query in r["username"].lower()
                or query in " ".join(str(v) for v in (r["attributes"] or {}).values()).lower()
            )
        ][:100]
        return self.console.page(request, "people.html", title="People", query=query, people=found)

    def _person(self, username: str) -> dict[str, Any]:
        runs.check_username(username)
        identity = self.rt.store.get_identity(username)
        with self.console.work_lock:  # connectors are driven by one request at a time
            status = runs.status(self.rt, username)
        history = self.rt.store.list_runs(username, limit=100)
        records = [r for r in self.rt.audit.records(username)][-100:]
        return {"identity": identity, "live": status, "history": history, "records": records[::-1]}

    async def person(self, request: Request) -> Response:
        user = self.allowed(request, "auditor", "operator", "reviewer")
        if isinstance(user, Response):
            return user
        identity = await run_in_threadpool(self.rt.store.get_identity, request.path_params["username"])
        if not self._sees(user, identity):
            return self.console.forbidden(request, "This person is not one of the people you review.")
        try:
            data = await run_in_threadpool(self._person, request.path_params["username"])
        except IamError as exc:
            return self.console.page(request, "error.html", 400, title="Not found", message=str(exc))
        return self.console.page(request, "person.html", title="Person", **data)
