"""A system's settings go through one model, from a file or from code; a secret is never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from iam.connectors.keycloak.settings import KeycloakSettings
from iam.connectors.ldap import LdapConnector
from pydantic import ValidationError

from iam.config import load_config
from iam.documents import problems
from iam.errors import ConfigError
from iam.secrets import Secret

SECRET = "hunter22-secret-value"
LDAP = {"url": "ldaps://ldap.example.org", "base_dn": "dc=example,dc=org"}


def config(tmp_path: Path, password: str) -> Path:
    path = tmp_path / "iam.yaml"
    path.write_text(
        "systems:\n  directory:\n    type: ldap\n    url: ldaps://ldap.example.org\n"
        f"    base_dn: dc=example,dc=org\n    bind_password: {password}\n"
    )
    return path


@pytest.mark.parametrize(
    "password", [f"{{file: [{SECRET}]}}", f"[{SECRET}]", f"{{env: X, value: {SECRET}}}", f"{{{SECRET}: 1}}"]
)
def test_a_secret_in_a_wrong_form_is_refused_without_its_value(tmp_path: Path, password: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(config(tmp_path, password), environ={})
    message = str(caught.value)
    assert "iam.yaml:6: systems.directory.bind_password: a secret must be" in message
    assert SECRET not in message


def test_a_secret_resolves_against_the_environment_it_is_given(tmp_path: Path) -> None:
    loaded = load_config(config(tmp_path, "{env: LDAP_PW}"), environ={"LDAP_PW": SECRET})
    password = loaded.systems[0].settings.bind_password
    assert isinstance(password, Secret) and password.reveal() == SECRET and SECRET not in repr(password)


def test_pydantic_never_echoes_a_secret_in_its_own_errors() -> None:
    """pydantic prints ``input_value`` by default; a settings model never does."""
    values = {"server_url": "https://sso", "realm": "acme", "client_id": "c", "password": SECRET}
    with pytest.raises(ValidationError) as caught:
        KeycloakSettings.model_validate(values)  # a password without a username: refused as a whole
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(problems(caught.value, values))  # what iam's messages are made of


def test_an_ldap_connector_built_in_code_checks_its_settings_like_a_file() -> None:
    with pytest.raises(ConfigError, match=r"systems\.directory\.page_sise: unknown key 'page_sise'; allowed"):
        LdapConnector("directory", {**LDAP, "page_sise": 5})
    with pytest.raises(ConfigError, match=r"systems\.directory\.url"):
        LdapConnector("directory", {**LDAP, "url": "http://ldap.example.org"})
    with pytest.raises(ConfigError, match=r"systems\.directory\.disable\.attribute"):
        LdapConnector("directory", {**LDAP, "disable": {"method": "attribute"}})
    with pytest.raises(ConfigError, match=r"systems\.directory\.bind_password") as caught:
        LdapConnector("directory", {**LDAP, "bind_password": {"file": [SECRET]}})
    assert SECRET not in str(caught.value)


def test_an_ldap_connector_built_in_code_gets_its_flavors_defaults() -> None:
    ad = LdapConnector("directory", {**LDAP, "flavor": "ad"})
    assert (ad.user_attr, ad.user_class, ad.disable_cfg.method) == ("sAMAccountName", "user", "ad")
    assert ad.attribute_map.mapping["department"] == "department"
    openldap = LdapConnector("directory", {**LDAP, "url": "ldap://ldap.example.org"})
    assert (openldap.user_attr, openldap.user_class, openldap.disable_cfg.method) == (
        "uid",
        "inetOrgPerson",
        "ppolicy",
    )
    assert openldap.session.start_tls and not ad.session.start_tls
    assert isinstance(LdapConnector("d", {**LDAP, "bind_password": SECRET}).settings.bind_password, Secret)
