"""Badges: physical access through a PACS, one driver per vendor API (Lenel OnGuard first)."""

from iam.connectors.badge.connector import BadgeConnector
from iam.connectors.badge.lenel import LenelBadgeConnector

__all__ = ["BadgeConnector", "LenelBadgeConnector"]
