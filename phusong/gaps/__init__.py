"""Gap analysis: communes, centres, villages, industrial zones and population against a plan's targets."""
from .rules import GapResult, analyse, points_covered

__all__ = ["GapResult", "analyse", "points_covered"]
