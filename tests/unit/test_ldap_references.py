"""Which continuation references a read may pass over (`connectors.ldap.references`); the reads
themselves are proven on slapd and Samba (`tests/integration/test_ldap_references.py`)."""

from __future__ import annotations

from iam.connectors.ldap.references import References, not_domains, target

CONFIG = "CN=Configuration,DC=iam,DC=test"
CHILD = "DC=child,DC=iam,DC=test"


def test_a_reference_names_the_dn_of_its_url_percent_escapes_undone() -> None:
    assert target("ldap://h:389/ou=a%2C%20b,dc=example,dc=org??sub") == "ou=a, b,dc=example,dc=org"
    assert target("ldaps://iam.test/CN=Configuration,DC=iam,DC=test") == CONFIG
    assert target("ldap://h/") is None and target("https://h/dc=x") is None


def test_only_a_place_listed_or_below_it_is_passed_over_however_spelt() -> None:
    references = References(["OU=Moved, DC=Example, DC=org"], None)
    passed = [["ldap://h/ou=moved,dc=example,dc=org??sub"], ["ldap://h/ou=x,ou=moved,dc=example,dc=org"]]
    assert references.blocking(passed) == []
    other = "ldap://h/ou=moved-not,dc=example,dc=org"
    assert references.blocking([[other]]) == [other]


def test_a_reference_passes_only_if_every_url_of_it_does() -> None:
    references = References(["ou=moved,dc=example,dc=org"], None)
    mixed = ["ldap://a/ou=moved,dc=example,dc=org", "ldap://b/ou=other,dc=example,dc=org"]
    assert references.blocking([mixed]) == [mixed[0]]
    assert references.blocking([[]]) == ["(a reference without a URL)"]


def test_active_directory_passes_over_naming_contexts_that_are_not_domains_only() -> None:
    cross_refs = [
        {"ncname": [CONFIG], "systemflags": ["1"]},
        {"ncname": ["DC=DomainDnsZones,DC=iam,DC=test"], "systemflags": ["5"]},
        {"ncname": ["DC=iam,DC=test"], "systemflags": ["3"]},
        {"ncname": [CHILD], "systemflags": ["3"]},
        {"ncname": ["DC=elsewhere,DC=org"], "systemflags": ["0"]},  # not this forest's
    ]
    assert not_domains(cross_refs) == [CONFIG, "DC=DomainDnsZones,DC=iam,DC=test"]
    references = References([], lambda: not_domains(cross_refs))
    config, child = f"ldap://iam.test/{CONFIG}", f"ldap://child.iam.test/{CHILD}"
    assert references.blocking([[config]]) == []
    assert references.blocking([[config], [child]]) == [child]


def test_a_naming_context_added_since_is_read_again_before_a_reference_is_refused() -> None:
    zones = "DC=DomainDnsZones,DC=iam,DC=test"
    answers = [[CONFIG], [CONFIG, zones]]
    references = References([], lambda: answers.pop(0))
    assert references.blocking([[f"ldap://iam.test/{CONFIG}"]]) == []
    assert references.blocking([[f"ldap://iam.test/{CONFIG}"]]) == []  # known: not read again
    assert answers == [[CONFIG, zones]]
    assert references.blocking([[f"ldap://iam.test/{zones}"]]) == []  # unknown: read again first
    assert answers == []
