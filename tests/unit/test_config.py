from pathlib import Path

import pytest

from iam.config import load_config
from iam.errors import ConfigError
from iam.secrets import Secret

GOOD = """\
store: state/iam.db
systems:
  directory:
    type: ldap
    url: ldaps://ldap.example.org
    base_dn: dc=example,dc=org
    bind_dn: cn=iam,dc=example,dc=org
    bind_password: {env: LDAP_PW}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "iam.yaml"
    path.write_text(text)
    return path


def test_good_config_resolves_secrets_and_relative_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), environ={"LDAP_PW": "pw-from-env"})
    system = config.systems[0]
    assert system.name == "directory" and system.type == "ldap"
    assert isinstance(system.settings.bind_password, Secret)
    assert system.settings.bind_password.reveal() == "pw-from-env"
    assert config.store == str(tmp_path / "state/iam.db")


def test_secret_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("pw-from-file\n")
    text = GOOD.replace("{env: LDAP_PW}", f"{{file: {tmp_path / 'pw'}}}")
    config = load_config(write(tmp_path, text), environ={})
    assert config.systems[0].settings.bind_password.reveal() == "pw-from-file"


def test_a_relative_secret_file_is_relative_to_the_configuration_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As every path in the file: `iam --config /etc/iam/iam.yaml` run from anywhere finds it."""
    (tmp_path / "etc" / "secrets").mkdir(parents=True)
    (tmp_path / "etc" / "secrets" / "ldap").write_text("pw-beside-the-config\n")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "ldap").write_text("pw-in-the-working-directory\n")
    path = tmp_path / "etc" / "iam.yaml"
    path.write_text(GOOD.replace("{env: LDAP_PW}", "{file: secrets/ldap}"))
    monkeypatch.chdir(tmp_path)
    config = load_config(path, environ={})
    assert config.systems[0].settings.bind_password.reveal() == "pw-beside-the-config"


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "    bsae_dn: typo\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={"LDAP_PW": "x"})
    message = str(err.value)
    assert message.startswith(f"{path}:")
    assert "systems.directory" in message and "bsae_dn" in message and "allowed keys" in message


def test_wrong_type_points_at_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("url: ldaps://ldap.example.org", "url: 42"))
    with pytest.raises(ConfigError, match=r"iam.yaml:5: systems.directory.url"):
        load_config(path, environ={"LDAP_PW": "x"})


def test_missing_environment_variable_is_named_without_a_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LDAP_PW is not set"):
        load_config(write(tmp_path, GOOD), environ={})


def test_unknown_system_type_lists_installed_types(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown system type .ldapp.*ldap"):
        load_config(write(tmp_path, GOOD.replace("type: ldap", "type: ldapp")), environ={})


def test_not_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "systems: [unclosed\n"), environ={})


def test_a_tab_in_the_yaml_is_named_with_its_line(tmp_path: Path) -> None:
    """libyaml parses (it is fast); PyYAML's words say what is wrong when it fails."""
    with pytest.raises(ConfigError, match=r"iam.yaml:2: not valid YAML: found character '\\t'"):
        load_config(write(tmp_path, "systems:\n\t- x\n"), environ={})


def test_missing_systems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'systems' is a required property"):
        load_config(write(tmp_path, "store: x.db\n"), environ={})
