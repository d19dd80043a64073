from pathlib import Path

from tests.conftest import run_iam


def test_demo_tells_joiner_mover_leaver_and_verifies_each(tmp_path: Path) -> None:
    result = run_iam("demo", "--workdir", str(tmp_path / "demo"), cwd=tmp_path)  # not from the checkout
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for chapter in ("joiner ada: COMPLETE", "mover ada: COMPLETE", "offboard ada: COMPLETE", "chain intact"):
        assert chapter in out
    assert "no_access" in out
    assert "Keycloak Admin API emulator" in out and "end 1 session(s)" in out
    assert "revoke consent and offline tokens for mail" in out
    assert "card 7001 at hq-main-entrance: GRANTED" in out
    assert "after offboarding, card 7001 at hq-main-entrance: DENIED" in out
    assert "demo-admin-pw" not in out + (tmp_path / "demo/iam-audit.jsonl").read_text()
