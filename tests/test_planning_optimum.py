"""The planner's optimiser against brute force: every subset of candidates of small covering instances.

Truth is exhaustive enumeration (2^n subsets), independent of the greedy, the LP and HiGHS.
"""
import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from phusong.planning.optimise import greedy, lp_bound, optimise
from phusong.planning.reach import Instance


def random_instance(seed: int, n_cand: int = 9, n_units: int = 14, partial: bool = True) -> Instance:
    rng = np.random.default_rng(seed)
    cover = (rng.random((n_units, n_cand)) < 0.3).astype(float)
    for u in range(n_units):               # every unit reachable by at least one candidate
        if not cover[u].any():
            cover[u, rng.integers(n_cand)] = 1.0
    half = n_units // 2
    targets = ["A"] * half + ["B"] * (n_units - half)
    weight = np.where(np.arange(n_units) < half, 1.0, rng.integers(1, 50, n_units).astype(float))
    units = pd.DataFrame({"target_id": targets, "weight": weight, "members": 1, "label": "", "commune_code": ""})
    reach_b = weight[half:].sum()
    required = {"A": float(half), "B": float(np.floor(0.6 * reach_b)) if partial else float(reach_b)}
    cost = rng.integers(1, 20, n_cand).astype(float) * 1000.0
    return Instance(units, sparse.csr_matrix(cover), cost, required, {"A": float(half), "B": float(reach_b)},
                    pd.DataFrame(), pd.DataFrame(index=[f"C{j}" for j in range(n_cand)]), [])


def covered_weight(inst: Instance, chosen) -> dict:
    cov = np.asarray(inst.cover[:, list(chosen)].sum(axis=1)).ravel() > 0 if chosen else \
        np.zeros(inst.cover.shape[0], bool)
    w = inst.units["weight"].to_numpy()
    return {t: float(w[(inst.units["target_id"] == t).to_numpy() & cov].sum()) for t in inst.required}


def brute_min_cost(inst: Instance) -> float:
    best = np.inf
    n = len(inst.cost)
    for k in range(n + 1):
        for subset in itertools.combinations(range(n), k):
            got = covered_weight(inst, subset)
            if all(got[t] >= inst.required[t] - 1e-9 for t in inst.required):
                best = min(best, float(inst.cost[list(subset)].sum()))
    return best


def brute_max_attainment(inst: Instance, budget: float) -> float:
    best = 0.0
    n = len(inst.cost)
    for k in range(n + 1):
        for subset in itertools.combinations(range(n), k):
            if inst.cost[list(subset)].sum() <= budget + 1e-9:
                got = covered_weight(inst, subset)
                best = max(best, sum(min(got[t] / inst.required[t], 1.0) for t in inst.required))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_least_cost_plan_against_brute_force(seed):
    inst = random_instance(seed, partial=seed % 2 == 0)
    optimum = brute_min_cost(inst)
    heuristic = greedy(inst)
    got = covered_weight(inst, heuristic.chosen)
    assert all(got[t] >= inst.required[t] - 1e-9 for t in inst.required), "the heuristic's plan misses a target"
    assert heuristic.cost >= optimum - 1e-6
    bound = lp_bound(inst)
    assert bound <= optimum + 1e-6, "the LP bound exceeds the true optimum"
    exact = optimise(inst, milp_time_limit_s=30)
    assert exact.cost == pytest.approx(optimum)
    assert exact.bound <= optimum + 1e-6
    # the reported gap never understates the distance to the optimum
    assert (exact.cost - optimum) / exact.cost * 100 <= exact.gap_pct + 1e-6
    no_milp = optimise(inst, milp_time_limit_s=0)
    assert (no_milp.cost - optimum) / no_milp.cost * 100 <= no_milp.gap_pct + 1e-6


@pytest.mark.parametrize("seed", range(6))
def test_budgeted_plan_against_brute_force(seed):
    inst = random_instance(100 + seed)
    budget = float(np.sort(inst.cost)[:3].sum())
    optimum = brute_max_attainment(inst, budget)
    sol = optimise(inst, budget=budget, milp_time_limit_s=30)
    assert sol.cost <= budget + 1e-9
    assert sum(sol.attainment.values()) == pytest.approx(optimum, abs=1e-6)
    assert sol.bound >= optimum - 1e-6, "the LP bound on attainment is below the true optimum"
    heuristic = greedy(inst, budget=budget)
    assert heuristic.cost <= budget + 1e-9
    assert sum(heuristic.attainment.values()) <= optimum + 1e-9


def test_max_sites_limits_the_number_of_actions():
    inst = random_instance(7)
    sol = optimise(inst, max_sites=2, milp_time_limit_s=30)
    assert len(sol.chosen) <= 2
    best = 0.0
    for subset in itertools.combinations(range(len(inst.cost)), 2):
        got = covered_weight(inst, subset)
        best = max(best, sum(min(got[t] / inst.required[t], 1.0) for t in inst.required))
    assert sum(sol.attainment.values()) == pytest.approx(best, abs=1e-6)


def test_the_cheaper_of_two_identical_candidates_is_chosen():
    # a share and a new tower covering the same units: the share (cheaper) must win, in every solver
    cover = sparse.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1]], float))
    units = pd.DataFrame({"target_id": "A", "weight": [1.0, 1.0, 1.0], "members": 1, "label": "",
                          "commune_code": ""})
    inst = Instance(units, cover, np.array([31_000.0, 108_000.0, 26_000.0]), {"A": 3.0}, {"A": 3.0},
                    pd.DataFrame(), pd.DataFrame(index=["share", "new", "upgrade"]), [])
    for sol in (greedy(inst), optimise(inst, milp_time_limit_s=10)):
        assert sol.chosen == [0, 2]
