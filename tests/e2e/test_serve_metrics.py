"""`iam serve`'s /healthz and /metrics, read from the journal of a real run on slapd."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Directory, iam_env, run_iam
from tests.e2e.conftest import HMAC
from tests.support.company import person


def post_signed(server, events: list[dict], timestamp: int) -> httpx.Response:
    from iam.server import sign

    body = json.dumps({"events": events}).encode()
    headers = {"X-IAM-Timestamp": str(timestamp), "X-IAM-Signature": sign(HMAC, timestamp, body)}
    return httpx.post(f"{server.url}/events", content=body, headers=headers, timeout=30)


def scrape(server) -> dict[str, float]:
    """Each sample as ``name{label="value"}`` -> value."""
    response = httpx.get(f"{server.url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def test_metrics_count_runs_steps_and_due_events_from_the_journal(event_server, directory: Directory) -> None:
    server, clock = event_server
    now = clock["now"]
    assert httpx.get(f"{server.url}/healthz", timeout=10).json() == {"ok": True}
    empty = scrape(server)
    assert empty["iam_due_events_waiting"] == 0
    assert not any(name.startswith(("iam_runs{", "iam_last_sweep")) for name in empty)

    joiner = {"type": "joiner", "person": person("E9", "hal", "Research")}
    leaver = {"type": "leaver", "username": "hal", "effective_at": (now + timedelta(days=2)).isoformat()}
    assert post_signed(server, [joiner], int(now.timestamp())).status_code == 202
    assert post_signed(server, [leaver], int(now.timestamp()) + 1).status_code == 202

    samples = scrape(server)
    assert samples['iam_runs{status="complete"}'] == 1
    assert samples['iam_steps{outcome="created"}'] >= 1
    assert samples["iam_due_events_waiting"] == 0  # the leaver is two days ahead
    clock["now"] = now + timedelta(days=3)
    assert scrape(server)["iam_due_events_waiting"] == 1

    server.rt.store.save_sweep("sweep-1", now - timedelta(hours=1), {}, [])
    server.rt.store.save_sweep("sweep-2", now, {}, [])
    assert scrape(server)["iam_last_sweep_timestamp_seconds"] == now.timestamp()


def test_a_dry_runs_steps_are_not_counted_as_pending(
    event_server, company: Path, directory: Directory
) -> None:
    """A dry run journals its plan and runs none of it: its steps would stay pending forever and fire
    any pending-steps alert."""
    server, _clock = event_server
    env = iam_env({"IAM_TEST_HMAC": HMAC})
    dry = run_iam("--config", str(company), "offboard", "alice", "--reason", "x", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr

    samples = scrape(server)

    assert samples['iam_runs{status="planned"}'] == 1
    assert not any(name.startswith("iam_steps{") for name in samples), samples


def test_unknown_paths_and_methods_get_a_json_answer(event_server) -> None:
    server, _clock = event_server
    missing = httpx.get(f"{server.url}/nowhere", timeout=10)
    wrong = httpx.get(f"{server.url}/events", timeout=10)
    assert (missing.status_code, missing.json()) == (404, {"error": "not found"})
    assert (wrong.status_code, wrong.json()) == (405, {"error": "method not allowed"})
