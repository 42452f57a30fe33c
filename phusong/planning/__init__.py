"""The rollout planner: which sites to build, share or upgrade to reach the plan's targets at least cost."""
from .costs import Costs, load_costs
from .plan import Plan, propose

__all__ = ["Costs", "Plan", "load_costs", "propose"]
