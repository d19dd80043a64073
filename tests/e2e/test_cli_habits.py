"""The habits admins bring from terraform, kubectl, gh and ansible, each held by the CLI run as a process."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import yaml

from tests.conftest import Directory, iam_env, run_iam
from tests.support.company import groups_of
from tests.support.slapd import add_group


def test_starttls_refused_by_a_plain_slapd_says_to_set_start_tls_false_or_ca_file(
    config_file: Path,
) -> None:
    data = yaml.safe_load(config_file.read_text())
    del data["systems"]["directory"]["start_tls"]  # ldap:// defaults to StartTLS, as in the examples
    config_file.write_text(yaml.safe_dump(data))

    result = run_iam("--config", str(config_file), "connectors", "check", "--format", "json")

    assert result.returncode == 2, result.stderr
    (check,) = json.loads(result.stdout)
    assert "StartTLS" in check["detail"]
    assert "start_tls: false" in check["detail"]
    assert "ca_file" in check["detail"]


def test_version_is_printed_by_both_spellings() -> None:
    for flag in ("--version", "-V"):
        result = run_iam(flag)
        assert result.returncode == 0, result.stderr
        assert version("iam") in result.stdout


def test_global_options_are_accepted_after_the_subcommand(config_file: Path, tmp_path: Path) -> None:
    before = run_iam("status", "alice", "--config", str(config_file), "--format", "json")
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout)["username"] == "alice"

    store = tmp_path / "elsewhere.db"
    listed = run_iam("runs", "--format", "json", f"--config={config_file}", "--store", str(store), "--debug")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    assert store.exists()  # --store after the subcommand was obeyed

    dangling = run_iam("runs", "--config")
    assert dangling.returncode == 2
    assert "'--config' requires an argument" in dangling.stderr


def test_an_option_value_after_a_double_dash_is_left_to_the_command(config_file: Path) -> None:
    result = run_iam("--config", str(config_file), "status", "--", "--debug")
    assert result.returncode == 2
    assert "--debug" in result.stderr  # read as the username, and refused as one


def test_output_that_is_not_a_terminal_prints_every_value_whole(
    directory: Directory, config_file: Path
) -> None:
    admin = directory.slapd.admin()
    long_cn = "a-group-with-a-very-long-name-that-no-eighty-column-table-could-ever-hold-whole-" * 2
    dn = add_group(admin, long_cn, "groupOfNames", [directory.alice])
    admin.unbind()

    result = run_iam("--config", str(config_file), "status", "alice")

    assert result.returncode == 0, result.stderr
    assert dn in result.stdout
    assert directory.alice in result.stdout
    assert "…" not in result.stdout


def _on_a_terminal(args: list[str], answer: bytes, env: dict[str, str]) -> tuple[int, str]:
    """Run iam with a terminal as its standard input, answer its prompt, return (exit code, all output)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "iam", *args],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    os.close(follower)
    os.write(leader, answer)
    out, _ = proc.communicate(timeout=120)
    os.close(leader)
    return proc.returncode, out.decode()


def test_answering_no_at_the_confirmation_exits_1_and_changes_nothing(
    directory: Directory, config_file: Path
) -> None:
    held = groups_of(directory, "alice")

    code, out = _on_a_terminal(
        ["--config", str(config_file), "offboard", "alice", "--reason", "resigned"], b"n\n", iam_env()
    )

    assert code == 1, out
    assert "Apply" in out
    assert "nothing was changed" in out
    assert groups_of(directory, "alice") == held


def test_completion_scripts_are_printed_for_bash_zsh_and_fish() -> None:
    marks = {"bash": "complete -o", "zsh": "#compdef iam", "fish": "complete --no-files --command iam"}
    for shell, mark in marks.items():
        result = run_iam("completion", shell)
        assert result.returncode == 0, result.stderr
        assert mark in result.stdout
        assert "_IAM_COMPLETE" in result.stdout

    wrong = run_iam("completion", "tcsh")
    assert wrong.returncode == 2
    assert "tcsh" in wrong.stderr and not wrong.stdout


def _stdout_on_a_terminal(args: list[str], columns: int) -> tuple[int, str]:
    """Run iam with a terminal of ``columns`` as standard output: (exit code, what the terminal showed)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "iam", *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=subprocess.DEVNULL,
        env={**iam_env(), "COLUMNS": str(columns), "TERM": "xterm", "NO_COLOR": "1"},
    )
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    code = proc.wait(timeout=120)
    os.close(leader)
    shown = b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
    return code, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)  # styles drawn, not text


def test_on_a_terminal_tables_fit_its_width_and_wide_prints_every_value_whole(
    directory: Directory, config_file: Path
) -> None:
    admin = directory.slapd.admin()
    dn = add_group(admin, "g-" + "long-name-" * 12, "groupOfNames", [directory.alice])
    admin.unbind()

    code, fitted = _stdout_on_a_terminal(["--config", str(config_file), "status", "alice"], 60)
    assert code == 0, fitted
    assert dn not in fitted  # cut or folded to fit 60 columns
    assert max(len(line) for line in fitted.splitlines()) <= 60

    code, wide = _stdout_on_a_terminal(["status", "alice", "--wide", "--config", str(config_file)], 60)
    assert code == 0, wide
    assert dn in wide and "…" not in wide


def _with_policy(config_file: Path, policy: str) -> None:
    (config_file.parent / "policy.yaml").write_text(policy)
    data = yaml.safe_load(config_file.read_text())
    data["policy"] = "policy.yaml"
    config_file.write_text(yaml.safe_dump(data))


def test_connectors_check_reads_the_policy_and_fails_on_one_the_first_joiner_would_refuse(
    config_file: Path, directory: Directory
) -> None:
    groups = directory.settings["groups_dn"]
    staff = "roles:\n  staff:\n    entitlements:\n      directory: {}\n"
    _with_policy(config_file, staff.format(f"['group:cn=eng,{groups}']"))
    sound = run_iam("--config", str(config_file), "connectors", "check", "--format", "json")
    assert sound.returncode == 0, sound.stderr
    assert [c["system"] for c in json.loads(sound.stdout)] == ["directory"]

    twice = f"['group:cn=eng,{groups}', 'group:CN=ENG,{groups.upper()}']"
    broken = {  # each with what its error must say
        staff.format(twice): "two ways",
        "roles: [unclosed\n": "policy.yaml",
    }
    for text, said in broken.items():
        _with_policy(config_file, text)
        result = run_iam("--config", str(config_file), "connectors", "check", "--format", "json")
        assert result.returncode == 2, result.stderr
        (check,) = json.loads(result.stdout)  # the systems are still checked and shown
        assert check["system"] == "directory" and check["ok"]
        assert said in result.stderr and "Traceback" not in result.stderr, result.stderr


def _help_lines(*command: str) -> list[str]:
    shown = run_iam(*command, "--help")
    assert shown.returncode == 0, shown.stderr
    return shown.stdout.splitlines()


def _commands(*path: str) -> list[tuple[str, ...]]:
    """Every command under ``path``, as `--help` lists them, with its subcommands."""
    lines = _help_lines(*path)
    if "Commands:" not in lines:
        return [path]
    listed = lines[lines.index("Commands:") + 1 :]
    names = [m.group(1) for line in listed if (m := re.match(r"^  ([a-z][\w-]*)", line))]
    return [found for name in names for found in _commands(*path, name)]


def test_every_option_says_what_it_does_in_help() -> None:
    for command in _commands():
        lines = _help_lines(*command)
        entries: list[str] = []
        for line in lines[lines.index("Options:") + 1 :]:
            if re.match(r"^  -", line):
                entries.append(line.strip())
            elif entries and line.startswith("   "):
                entries[-1] += "  " + line.strip()
        for entry in entries:
            # after the names and metavar: the help, less click's [default: ...] and [range]
            said = re.sub(r"\[[^\]]*\]", "", "  ".join(re.split(r"\s{2,}", entry)[1:])).strip()
            assert said, f"iam {' '.join(command)}: {entry}"


def test_iam_help_says_whole_what_completion_does() -> None:
    (line,) = [line for line in _help_lines() if line.startswith("  completion ")]
    assert "bash, zsh or fish" in line and not line.endswith("e.g.")


def test_offboard_help_names_every_exit_code() -> None:
    text = " ".join(_help_lines("offboard"))
    for code in ("0 when", "3 when", "2 when"):
        assert code in text
