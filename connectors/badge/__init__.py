"""Badges: physical access through a PACS, one driver per vendor API (Lenel OnGuard first)."""

from connectors.badge.connector import BadgeConnector
from connectors.badge.lenel import LenelBadgeConnector

__all__ = ["BadgeConnector", "LenelBadgeConnector"]
