"""Files people read or fill in: a sweep as CSV or one self-contained HTML page, a certification page.

The HTML report has no external assets: inline CSS and an inline SVG bar
chart of findings by type, then the detailed list. Every value is escaped.
"""

from __future__ import annotations

import io
from html import escape
from typing import Any

from iam import csvsafe
from iam.report import AccountView, Campaign, EvidenceChapter, EvidencePack, Finding, SweepResult

COLUMNS = ("type", "system", "account", "entitlement", "why", "since", "action")
LABELS = {
    "orphan": "Orphan account",
    "leaver_with_access": "Leaver with access",
    "excess": "Excess entitlement",
    "missing": "Missing entitlement",
    "dormant": "Dormant account",
    "expired": "Expired",
    "sod_conflict": "Separation-of-duty conflict",
    "unowned_third_party": "Third party without owner",
    "termination_hold_conflict": "Terminated, yet active in HR",
}


def findings_csv(findings: list[Finding]) -> str:
    out = io.StringIO()
    writer = csvsafe.writer(out, COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for f in findings:
        row = f.model_dump()
        writer.writerow({k: "" if row[k] is None else row[k] for k in COLUMNS})
    return out.getvalue()


def _bar_chart(counts: dict[str, int]) -> str:
    if not counts:
        return "<p>No findings.</p>"
    top = max(counts.values())
    rows = []
    for i, (name, count) in enumerate(sorted(counts.items(), key=lambda kv: -kv[1])):
        width = max(2, int(360 * count / top))
        y = i * 28
        rows.append(
            f'<text x="0" y="{y + 17}" class="l">{escape(LABELS.get(name, name))}</text>'
            f'<rect x="230" y="{y + 4}" width="{width}" height="18" rx="3"></rect>'
            f'<text x="{236 + width}" y="{y + 17}" class="n">{count}</text>'
        )
    height = 28 * len(counts)
    return (
        f'<svg role="img" aria-label="findings by type" width="660" height="{height}" '
        f'viewBox="0 0 660 {height}">{"".join(rows)}</svg>'
    )


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape('' if v is None else str(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d2430;max-width:1200px}
h1{font-size:1.5rem;margin:0 0 .2rem}h2{font-size:1.1rem;margin-top:2rem}
.meta{color:#5b6573}.cards{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}
.card{border:1px solid #d9dee5;border-radius:8px;padding:.6rem 1rem;min-width:9rem}
.card b{display:block;font-size:1.4rem}.ok{color:#1a7f37}.bad{color:#b42318}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #e6e9ee;padding:.35rem .5rem;
text-align:left;vertical-align:top}th{background:#f5f7fa}svg rect{fill:#3b6fd8}svg .l{font-size:12px}
svg .n{font-size:12px;font-weight:600}
"""


CLEAN = '<p class="ok">Nothing found: every account matches HR and the policy.</p>'


def sweep_html(result: SweepResult) -> str:
    summary = result.summary
    findings = result.findings
    total = summary.total
    cards = [
        f'<div class="card"><b class="{"ok" if not total else "bad"}">{total}</b>findings</div>',
        f'<div class="card"><b>{summary.identities}</b>identities</div>',
    ]
    cards += [
        f'<div class="card"><b>{count}</b>accounts in {escape(name)}</div>'
        for name, count in sorted(summary.accounts.items())
    ]
    errors = "".join(
        f'<p class="bad">Could not read {escape(n)}: {escape(e)}</p>' for n, e in summary.errors.items()
    )
    by_system = _table(["system", "findings"], sorted([k, v] for k, v in summary.by_system.items()))
    details = _table(
        ["finding", "system", "account", "entitlement", "why", "since", "suggested action"],
        [
            [
                LABELS.get(f.type, f.type),
                f.system or "-",
                f.account,
                f.entitlement or "-",
                f.why,
                f.since or "-",
                f.action,
            ]
            for f in findings
        ],
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Access review {escape(result.at[:10])}</title>
<style>{STYLE}</style></head><body>
<h1>Access review</h1><p class="meta">Sweep {escape(result.id)} · {escape(result.at)}</p>
<div class="cards">{"".join(cards)}</div>{errors}
<h2>Findings by type</h2>{_bar_chart(summary.by_type)}
<h2>Findings by system</h2>{by_system}
<h2>All findings</h2>{details if findings else CLEAN}
</body></html>
"""


def certification_html(campaign: Campaign) -> str:
    rows = [[i.username, i.name, i.system, i.entitlement, ""] for i in campaign.items]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Access certification for {escape(campaign.manager)}</title>
<style>{STYLE}</style></head><body>
<h1>Access certification</h1>
<p class="meta">Manager {escape(campaign.manager)} · campaign {escape(campaign.id)} · decide by
{escape(str(campaign.due))}</p>
<p>For each line, write <b>keep</b> or <b>revoke</b> in the <code>decision</code> column of the CSV file
and return it; lines without a decision by the due date are reported.</p>
{_table(["person", "name", "system", "entitlement", "decision"], rows)}
</body></html>
"""


PRINT_STYLE = """
@page{size:A4;margin:16mm 14mm}
body{font:10.5pt/1.4 system-ui,sans-serif;color:#1d2430;max-width:190mm;margin:0 auto}
h1{font-size:16pt;margin:0 0 2mm}h2{font-size:12pt;margin:6mm 0 2mm;break-after:avoid}
.meta{color:#5b6573}.ok{color:#1a7f37}.bad{color:#b42318}
table{border-collapse:collapse;width:100%;margin:1mm 0 3mm;break-inside:auto}
th,td{border-bottom:1px solid #d9dee5;padding:1mm 1.5mm;text-align:left;vertical-align:top}
th{background:#f1f3f6}tr{break-inside:avoid}code{font-size:9pt;word-break:break-all}
section{break-inside:avoid-page}
"""


def _facts(rows: list[tuple[str, Any]]) -> str:
    body = "".join(
        f"<tr><th>{escape(k)}</th><td>{escape('-' if v is None else str(v))}</td></tr>" for k, v in rows
    )
    return f"<table>{body}</table>"


def _account(view: AccountView | None) -> str:
    if view is None:
        return "no account"
    held = view.entitlements + [
        f"{c.kind} {c.id}" + ("" if c.active else " (inactive)") for c in view.credentials
    ]
    held += [f"session {s}" for s in view.sessions]
    state = "enabled" if view.enabled else "disabled"
    return f"{escape(view.ref)} ({state})" + ("<br>" + "<br>".join(escape(h) for h in held) if held else "")


def _state(view: AccountView) -> str:
    return "enabled" if view.enabled else "disabled"


def _chapter(c: EvidenceChapter) -> str:
    """A suspension, restore or retention delete: who, why, when, and each system's check."""
    facts = _facts(
        [
            ("ordered by", c.ordered_by),
            ("reason", c.reason),
            ("ticket", c.ticket),
            ("ordered at", c.ordered_at.isoformat()),
            ("finished at", c.finished_at.isoformat() if c.finished_at else "not finished"),
            ("audit records", f"{c.audit.records} (seq {c.audit.first_seq} to {c.audit.last_seq})"),
        ]
    )
    checks = _table(
        ["system", "result", "steps", "read back after", "access left"],
        [
            [
                f"{s.system} ({s.type})",
                s.result + (f": {s.error}" if s.error else ""),
                "; ".join(st.description + f" ({st.outcome or st.status})" for st in s.steps) or "-",
                "-" if s.read_back is None else f"{s.read_back.ref} ({_state(s.read_back)})",
                "; ".join(s.remaining) or "nothing",
            ]
            for s in c.systems
        ],
    )
    good = "ok" if c.status == "complete" else "bad"
    return (
        f"<section><h3>{escape(c.kind)} · run {escape(c.run_id)}: "
        f'<span class="{good}">{escape(c.status)}</span></h3>{facts}{checks}</section>'
    )


def evidence_html(pack: EvidencePack) -> str:
    """One self-contained page an auditor can print on A4: no script, no outside asset."""
    verdict = "ok" if pack.status == "complete" else "bad"
    person = pack.person or {}
    who = _facts(
        [
            (
                "person",
                f"{pack.username} — {person.get('given_name', '')} {person.get('family_name', '')}".strip(),
            ),
            ("HR id", person.get("hr_id")),
            ("department / title", f"{person.get('department') or '-'} / {person.get('title') or '-'}"),
            ("kind", person.get("kind")),
            ("ordered by", pack.ordered_by),
            ("reason", pack.reason),
            ("ticket", pack.ticket),
            ("HR event", pack.hr_event),
            ("ordered at", pack.ordered_at.isoformat()),
            (
                "last access gone at",
                pack.access_gone_at.isoformat() if pack.access_gone_at else "not complete",
            ),
        ]
    )
    systems = []
    for s in pack.systems:
        steps = _table(
            ["#", "step", "outcome", "started", "ended"],
            [
                [
                    st.seq,
                    st.description,
                    st.outcome or f"{st.status}: {st.error or ''}",
                    st.started_at.isoformat(timespec="seconds") if st.started_at else "-",
                    st.finished_at.isoformat(timespec="seconds") if st.finished_at else "-",
                ]
                for st in s.steps
            ],
        )
        left = "nothing" if not s.remaining else "; ".join(s.remaining)
        good = "ok" if s.result in ("complete", "no_account") else "bad"
        systems.append(
            f"<section><h2>{escape(s.system)} ({escape(s.type)}): "
            f'<span class="{good}">{escape(s.result)}</span></h2>'
            f"<p><b>Held before:</b> {_account(s.held_before)}</p>{steps}"
            f"<p><b>Read back after:</b> {_account(s.read_back)}</p>"
            f"<p><b>Access left:</b> {escape(left)}</p>"
            + (f'<p class="bad">{escape(s.error)}</p>' if s.error else "")
            + "</section>"
        )
    seal = pack.audit
    audit = _facts(
        [
            ("audit log", seal.log),
            ("records of this run", f"{seal.records} (seq {seal.first_seq} to {seal.last_seq})"),
            ("first record hash", seal.first_hash),
            ("last record hash", seal.last_hash),
            (
                "sealed by",
                f"checkpoint {seal.checkpoint_seq} ({seal.checkpoint_at}), signed by {seal.checkpoint_key}"
                if seal.checkpoint_seq
                else "no signed checkpoint (audit.signing_key is not configured)",
            ),
            ("checkpoint hash", seal.checkpoint_hash),
        ]
    )
    limits = "".join(f"<li>{escape(text)}</li>" for text in pack.limits)
    story = "".join(_chapter(c) for c in pack.story)
    if story:
        story = f"<h2>The person's other runs</h2>{story}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Termination evidence: {escape(pack.username)}</title>
<style>{PRINT_STYLE}</style></head><body>
<h1>Termination evidence: {escape(pack.username)}</h1>
<p class="meta">Run {escape(pack.run_id)} · {escape(pack.kind)} ·
<b class="{verdict}">{escape(pack.status.upper())}</b></p>
<h2>Who, why, when</h2>{who}
{"".join(systems)}
{story}
<h2>Audit records</h2>{audit}
<p>Check the log and this seal: <code>{escape(seal.verify_with)}</code></p>
<h2>What a complete termination does not claim</h2><ul>{limits}</ul>
</body></html>
"""
