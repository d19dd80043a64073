"""Connector plugins. The core reaches them only through the ``iam.connectors`` entry points."""
