"""Badges: physical access through a PACS, one driver per vendor API (Lenel OnGuard, Seam)."""

from iam.connectors.badge.connector import BadgeConnector
from iam.connectors.badge.lenel import LenelBadgeConnector
from iam.connectors.badge.seam import SeamBadgeConnector

__all__ = ["BadgeConnector", "LenelBadgeConnector", "SeamBadgeConnector"]
