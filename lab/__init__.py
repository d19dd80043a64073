"""The lab: real-protocol doubles of the systems iam reaches, to try iam and to test it.

Like moto for AWS: an emulator of Keycloak's Admin REST API and one of Lenel
OnGuard's OpenAccess API (with a door reader), each held to its vendor's
published description, and a real OpenVPN server on a throwaway PKI. `iam
demo` tells a joiner -> mover -> leaver story on them; `iam lab up` runs them
for you to point iam at. The lab is a client of iam's public API: the core
never imports it.
"""
