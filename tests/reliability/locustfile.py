"""Locust scenario of ``test_load.py``: accountants browsing the reports (not a pytest module).

Each simulated accountant has their own logged-in session (``LOAD_SESSIONS``: session keys made by the
test) and, with think time between pages, opens the history (sometimes for one branch), the monthly
summary, a drill-down into the documents behind a row, and exports CSV or XLSX. Anything but the
expected page or file — a redirect to the login page, an error, a wrong content type — is a failure.
"""

from __future__ import annotations

import itertools
import os
import random

from locust import HttpUser, between, task

SESSIONS = os.environ["LOAD_SESSIONS"].split(",")
DATE_FROM, DATE_TO = os.environ["LOAD_DATE_FROM"], os.environ["LOAD_DATE_TO"]
BRANCHES = [b for b in os.environ.get("LOAD_BRANCHES", "").split(",") if b]
FACT_URLS = [u for u in os.environ.get("LOAD_FACT_URLS", "").split() if u]
MONTHS = [m for m in os.environ.get("LOAD_MONTHS", "").split(",") if m]
_seats = itertools.count()


class Accountant(HttpUser):
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        session = SESSIONS[next(_seats) % len(SESSIONS)]
        self.client.headers["Cookie"] = f"sessionid={session}"
        self.client.headers["Accept-Language"] = random.choice(["uz", "ru", "en"])

    def _get(self, url: str, name: str, expect: str) -> None:
        with self.client.get(url, name=name, allow_redirects=False, catch_response=True) as response:
            kind = response.headers.get("Content-Type", "")
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code} {response.headers.get('Location', '')}")
            elif not kind.startswith(expect):
                response.failure(f"content type {kind!r}, expected {expect!r}")
            elif expect.startswith("application/vnd") and not response.content.startswith(b"PK"):
                response.failure("not an XLSX file")
            else:
                response.success()

    def _query(self) -> str:
        query = f"date_from={DATE_FROM}&date_to={DATE_TO}"
        if BRANCHES and random.random() < 0.4:
            query += f"&branch={random.choice(BRANCHES)}"
        return query

    @task(5)
    def history(self) -> None:
        page = random.choice(["", "&page=2"])
        self._get(f"/reports/history/?{self._query()}{page}", "/reports/history/", "text/html")

    @task(2)
    def summary(self) -> None:
        month = f"?month={random.choice(MONTHS)}" if MONTHS else ""
        self._get(f"/reports/summary/{month}", "/reports/summary/", "text/html")

    @task(2)
    def drill_down(self) -> None:
        if FACT_URLS:
            self._get(random.choice(FACT_URLS), "/reports/history/<day>/<branch>/<employee>/", "text/html")

    @task(2)
    def export_csv(self) -> None:
        self._get(f"/reports/export.csv?{self._query()}", "/reports/export.csv", "text/csv")

    @task(1)
    def export_xlsx(self) -> None:
        self._get(f"/reports/export.xlsx?{self._query()}", "/reports/export.xlsx",
                  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
