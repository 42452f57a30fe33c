"""Choosing candidates: least cost to reach the targets, or the most attainment within a budget.

The problem is a weighted partial set cover. Units ``u`` of target ``t`` carry weights
``w_u``; candidate ``j`` costs ``c_j`` and covers the units ``S_j``. With ``x_j`` (build)
and ``y_u`` (covered) in {0, 1}::

    minimise   Σ c_j x_j
    subject to y_u ≤ Σ_{j: u ∈ S_j} x_j         every unit
               Σ_{u ∈ t} w_u y_u ≥ R_t          every target (R_t: the weight it must add)

With a budget ``B`` (and/or at most ``N`` actions) the plan instead maximises the mean
attainment ``Σ_t a_t / T`` with ``a_t R_t ≤ Σ_{u ∈ t} w_u y_u``, ``a_t ≤ 1``,
``Σ c_j x_j ≤ B`` and ``Σ x_j ≤ N``.

* :func:`greedy` — lazy greedy on cost-effectiveness (gain per unit cost, each target's
  gain normalised by its requirement), then local search: drop redundant actions and
  swap an action for a cheaper one that keeps every target (the classical ln-factor
  heuristic of Chvátal 1979, improved locally);
* :func:`solve_milp` — the exact model with HiGHS (``scipy.optimize.milp``), under a
  time limit;
* :func:`lp_bound` — the LP relaxation: a lower bound on the least cost (an upper bound
  on attainment), so every plan reports how far from the optimum it can at most be.
"""
from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from .reach import Instance

EPS = 1e-9
TOL = 1e-9   # relative slack on requirements: float sums only (a 0.1-person cell still counts)


@dataclass
class Solution:
    """Chosen candidate indices, their cost, and how the choice was made and bounded."""

    chosen: list[int]
    cost: float
    attainment: dict                       # target_id -> share of its requirement reached (0..1)
    method: str
    bound: float | None = None             # lower bound on cost (min-cost) or upper bound on attainment (budget)
    gap_pct: float | None = None
    timings: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


class _State:
    """Coverage counts of the chosen set, for O(|S_j|) gains and removals."""

    def __init__(self, inst: Instance):
        self.inst = inst
        self.by_cand = inst.cover.T.tocsr()            # candidates × units
        self.weight = inst.units["weight"].to_numpy(float)
        tids = inst.target_ids
        self.tindex = {t: k for k, t in enumerate(tids)}
        self.target_of = inst.units["target_id"].map(self.tindex).to_numpy(np.int64) if len(inst.units) else \
            np.zeros(0, np.int64)
        self.req = np.array([inst.required[t] for t in tids], float)
        self.inv_req = np.where(self.req > 0, 1.0 / np.where(self.req > 0, self.req, 1.0), 0.0)
        self.count = np.zeros(len(self.weight), np.int64)
        self.got = np.zeros(len(tids))

    def units_of(self, j: int) -> np.ndarray:
        return self.by_cand.indices[self.by_cand.indptr[j]:self.by_cand.indptr[j + 1]]

    def gain(self, j: int) -> float:
        """Normalised gain of adding ``j``: Σ_t min(remaining_t, new weight_t) / R_t."""
        u = self.units_of(j)
        new = u[self.count[u] == 0]
        if len(new) == 0:
            return 0.0
        per_t = np.bincount(self.target_of[new], weights=self.weight[new], minlength=len(self.req))
        return float(np.dot(np.minimum(per_t, np.maximum(self.req - self.got, 0.0)), self.inv_req))

    def add(self, j: int) -> None:
        u = self.units_of(j)
        new = u[self.count[u] == 0]
        self.got += np.bincount(self.target_of[new], weights=self.weight[new], minlength=len(self.req))
        self.count[u] += 1

    def remove(self, j: int) -> None:
        u = self.units_of(j)
        self.count[u] -= 1
        lost = u[self.count[u] == 0]
        self.got -= np.bincount(self.target_of[lost], weights=self.weight[lost], minlength=len(self.req))

    def loss_if_removed(self, j: int) -> np.ndarray:
        u = self.units_of(j)
        lost = u[self.count[u] == 1]
        return np.bincount(self.target_of[lost], weights=self.weight[lost], minlength=len(self.req))

    def done(self) -> bool:
        return bool(np.all(self.got >= self.req - TOL * np.maximum(self.req, 1.0)))

    def attainment(self) -> dict:
        return {t: (1.0 if self.req[k] <= 0 else float(min(self.got[k] / self.req[k], 1.0)))
                for t, k in self.tindex.items()}


def _lazy_greedy(st: _State, cost: np.ndarray, budget: float, max_sites: int, stop_when_done: bool) -> list[int]:
    chosen: list[int] = []
    spent = 0.0
    heap = []
    for j in range(len(cost)):
        g = st.gain(j)
        if g > EPS:
            heap.append((-g / max(cost[j], EPS), j))
    heapq.heapify(heap)
    while heap and len(chosen) < max_sites and not (stop_when_done and st.done()):
        neg, j = heapq.heappop(heap)
        if spent + cost[j] > budget + EPS:
            continue
        g = st.gain(j)
        if g <= EPS:
            continue
        ratio = g / max(cost[j], EPS)
        if heap and ratio < -heap[0][0] - EPS:
            heapq.heappush(heap, (-ratio, j))   # stale: re-queue with its current gain
            continue
        st.add(j)
        chosen.append(j)
        spent += cost[j]
    return chosen


def greedy(inst: Instance, budget: float | None = None, max_sites: int | None = None) -> Solution:
    """Lazy greedy then local search (drop, swap); see the module notes."""
    t0 = time.perf_counter()
    st = _State(inst)
    cost = inst.cost
    limited = budget is not None or max_sites is not None
    B = float("inf") if budget is None else float(budget)
    N = len(cost) if max_sites is None else int(max_sites)
    chosen = _lazy_greedy(st, cost, B, N, stop_when_done=True)
    if limited:
        # Khuller et al.'s guard for budgeted coverage: the best single affordable action may beat greedy
        empty = _State(inst)
        singles = [(empty.gain(j), j) for j in range(len(cost)) if cost[j] <= B + EPS]
        if singles:
            g1, j1 = max(singles)
            if g1 > sum(st.attainment().values()) + EPS:
                st = _State(inst)
                st.add(j1)
                chosen = [j1]
    else:
        chosen = _local_search(st, chosen, cost)
    sol = Solution(sorted(chosen), float(cost[chosen].sum()), st.attainment(), "greedy + local search" if not limited
                   else "budgeted greedy")
    sol.timings["heuristic_s"] = round(time.perf_counter() - t0, 3)
    return sol


def _local_search(st: _State, chosen: list[int], cost: np.ndarray, rounds: int = 5) -> list[int]:
    """Drop actions the targets do not need, then swap an action for a cheaper one that keeps them."""
    chosen = list(chosen)
    for _ in range(rounds):
        improved = False
        for j in sorted(chosen, key=lambda k: -cost[k]):        # drop, dearest first
            if np.all(st.got - st.loss_if_removed(j) >= st.req - TOL * np.maximum(st.req, 1.0)):
                st.remove(j)
                chosen.remove(j)
                improved = True
        chosen_set = set(chosen)
        for j in sorted(chosen, key=lambda k: -cost[k]):        # 1-for-1 swaps to a cheaper action
            st.remove(j)
            short = np.maximum(st.req - st.got, 0.0)
            best = None
            for k in map(int, np.flatnonzero(cost < cost[j] - EPS)):
                if k in chosen_set:
                    continue
                u = st.units_of(k)
                new = u[st.count[u] == 0]
                add = np.bincount(st.target_of[new], weights=st.weight[new], minlength=len(st.req))
                if np.all(add >= short - TOL * np.maximum(st.req, 1.0)) and (best is None or cost[k] < cost[best]):
                    best = int(k)
            if best is None:
                st.add(j)
                continue
            st.add(best)
            chosen.remove(j)
            chosen.append(best)
            chosen_set.discard(j)
            chosen_set.add(best)
            improved = True
        if not improved:
            break
    return chosen


def _model(inst: Instance, budget: float | None, max_sites: int | None):
    """(c, integrality, bounds, constraints) of the MILP in the module notes; variables x, y (and a)."""
    from scipy.optimize import Bounds, LinearConstraint

    n_c, n_u = inst.cover.shape[1], inst.cover.shape[0]
    tids = inst.target_ids
    weight = inst.units["weight"].to_numpy(float)
    tindex = {t: k for k, t in enumerate(tids)}
    target_of = inst.units["target_id"].map(tindex).to_numpy(np.int64) if n_u else np.zeros(0, np.int64)
    req = np.array([inst.required[t] for t in tids], float)
    limited = budget is not None or max_sites is not None
    n_a = len(tids) if limited else 0
    n = n_c + n_u + n_a
    # y_u - Σ x_j ≤ 0
    link = sparse.hstack([-inst.cover, sparse.identity(n_u), sparse.csr_matrix((n_u, n_a))]).tocsr()
    rows = [LinearConstraint(link, -np.inf, 0.0)]
    tw = sparse.csr_matrix((weight, (target_of, np.arange(n_u))), shape=(len(tids), n_u))
    if limited:
        # a_t R_t - Σ w_u y_u ≤ 0 ; Σ c x ≤ B ; Σ x ≤ N
        a = sparse.diags(req)
        rows.append(LinearConstraint(sparse.hstack([sparse.csr_matrix((len(tids), n_c)), -tw, a]).tocsr(),
                                     -np.inf, 0.0))
        if budget is not None:
            rows.append(LinearConstraint(np.concatenate([inst.cost, np.zeros(n_u + n_a)])[None, :], -np.inf, budget))
        if max_sites is not None:
            rows.append(LinearConstraint(np.concatenate([np.ones(n_c), np.zeros(n_u + n_a)])[None, :], -np.inf,
                                         max_sites))
        c = np.concatenate([np.zeros(n_c + n_u), -np.where(req > 0, 1.0, 0.0)])
    else:
        rows.append(LinearConstraint(sparse.hstack([sparse.csr_matrix((len(tids), n_c)), tw]).tocsr(),
                                     req - TOL * np.maximum(req, 1.0), np.inf))
        c = np.concatenate([inst.cost, np.zeros(n_u)])
    integrality = np.concatenate([np.ones(n_c), np.zeros(n_u + n_a)])
    return c, integrality, Bounds(np.zeros(n), np.ones(n)), rows


def _cover_model(inst: Instance):
    """The least-cost model, reduced: a target that must reach every reachable unit takes covering rows
    ``Σ_{j ∈ S_u} x_j ≥ 1`` (no ``y``); a unit only one candidate covers forces that candidate (``x_j = 1``)
    and drops the rows it covers; only targets with a lower goal keep ``y`` variables."""
    from scipy.optimize import Bounds, LinearConstraint

    n_c = inst.cover.shape[1]
    tids = inst.target_ids
    unit_t = inst.units["target_id"].to_numpy() if len(inst.units) else np.zeros(0, object)
    full_t = {t for t in tids if inst.required[t] > 0 and inst.required[t] >= inst.reachable[t] - 1e-9}
    part_t = [t for t in tids if inst.required[t] > 0 and t not in full_t]
    full_rows = np.flatnonzero(np.isin(unit_t, list(full_t)))
    cover_full = inst.cover[full_rows]
    single = np.diff(cover_full.indptr) == 1
    forced = np.unique(cover_full.indices[cover_full.indptr[:-1][single]]) if single.any() else np.zeros(0, int)
    lower = np.zeros(n_c)
    lower[forced] = 1.0
    if len(forced):
        hit = np.asarray(cover_full[:, forced].sum(axis=1)).ravel() > 0
        cover_full = cover_full[~hit]
    part_rows = np.flatnonzero(np.isin(unit_t, part_t))
    n_p = len(part_rows)
    rows = []
    if cover_full.shape[0]:
        rows.append(LinearConstraint(sparse.hstack([cover_full, sparse.csr_matrix((cover_full.shape[0], n_p))]).tocsr(),
                                     1.0, np.inf))
    if n_p:
        weight = inst.units["weight"].to_numpy(float)[part_rows]
        tk = {t: k for k, t in enumerate(part_t)}
        t_of = np.array([tk[t] for t in unit_t[part_rows]], np.int64)
        req = np.array([inst.required[t] for t in part_t])
        rows.append(LinearConstraint(sparse.hstack([-inst.cover[part_rows], sparse.identity(n_p)]).tocsr(),
                                     -np.inf, 0.0))
        tw = sparse.csr_matrix((weight, (t_of, np.arange(n_p))), shape=(len(part_t), n_p))
        rows.append(LinearConstraint(sparse.hstack([sparse.csr_matrix((len(part_t), n_c)), tw]).tocsr(),
                                     req - TOL * np.maximum(req, 1.0), np.inf))
    c = np.concatenate([inst.cost, np.zeros(n_p)])
    integrality = np.concatenate([np.ones(n_c), np.zeros(n_p)])
    return c, integrality, Bounds(np.concatenate([lower, np.zeros(n_p)]), np.ones(n_c + n_p)), rows


def lp_bound(inst: Instance, budget: float | None = None, max_sites: int | None = None) -> float | None:
    """The LP relaxation's optimum: a lower bound on cost (or an upper bound on attainment's sum)."""
    from scipy.optimize import milp

    if inst.cover.shape[0] == 0:
        return 0.0
    limited = budget is not None or max_sites is not None
    c, integrality, bounds, rows = _model(inst, budget, max_sites) if limited else _cover_model(inst)
    if not rows:
        return float(c @ bounds.lb)
    res = milp(c, integrality=np.zeros_like(integrality), bounds=bounds, constraints=rows)
    if res.status != 0 or res.fun is None:
        return None
    return float(res.fun) if budget is None and max_sites is None else float(-res.fun)


def solve_milp(inst: Instance, time_limit_s: float, budget: float | None = None, max_sites: int | None = None):
    """The exact model with HiGHS: (chosen indices or None, objective, dual bound, optimal?)."""
    from scipy.optimize import milp

    limited = budget is not None or max_sites is not None
    c, integrality, bounds, rows = _model(inst, budget, max_sites) if limited else _cover_model(inst)
    if not rows:   # every requirement met by the forced candidates alone
        chosen = [int(j) for j in np.flatnonzero(bounds.lb[:inst.cover.shape[1]] > 0.5)]
        return chosen, float(c @ bounds.lb), float(c @ bounds.lb), True
    res = milp(c, integrality=integrality, bounds=bounds, constraints=rows,
               options={"time_limit": float(time_limit_s), "disp": False})
    dual = getattr(res, "mip_dual_bound", None)
    if res.x is None:
        return None, None, dual, False
    n_c = inst.cover.shape[1]
    chosen = [int(j) for j in np.flatnonzero(res.x[:n_c] > 0.5)]
    return chosen, float(res.fun), dual, res.status == 0


def optimise(inst: Instance, *, budget: float | None = None, max_sites: int | None = None,
             milp_time_limit_s: float = 60.0, milp_max_nonzeros: int = 5_000_000) -> Solution:
    """The best plan found by the heuristic and (time and size permitting) the exact solver, with its bound."""
    limited = budget is not None or max_sites is not None
    sol = greedy(inst, budget, max_sites)
    t0 = time.perf_counter()
    bound = lp_bound(inst, budget, max_sites)
    sol.timings["lp_s"] = round(time.perf_counter() - t0, 3)
    if milp_time_limit_s > 0 and inst.cover.nnz <= milp_max_nonzeros and inst.cover.shape[0] > 0:
        t0 = time.perf_counter()
        chosen, obj, dual, optimal = solve_milp(inst, milp_time_limit_s, budget, max_sites)
        sol.timings["milp_s"] = round(time.perf_counter() - t0, 3)
        if chosen is not None:
            st = _State(inst)
            for j in chosen:
                st.add(j)
            better = (sum(st.attainment().values()) > sum(sol.attainment.values()) + EPS) if limited else \
                (st.done() and float(inst.cost[chosen].sum()) < sol.cost - EPS)
            if better:
                heuristic = sol
                sol = Solution(sorted(chosen), float(inst.cost[chosen].sum()), st.attainment(),
                               "exact (HiGHS MILP)" if optimal else "HiGHS MILP (time limit)", timings=sol.timings,
                               notes=sol.notes)
                sol.notes.append(f"the heuristic alone: {len(heuristic.chosen)} actions costing {heuristic.cost:,.0f} "
                                 f"(attainment {sum(heuristic.attainment.values()):.3f} of {len(heuristic.attainment)})")
            elif optimal:
                sol.method += " (proved optimal by HiGHS)"
        if dual is not None and np.isfinite(dual):
            dual = float(dual) if not limited else float(-dual)
            bound = dual if bound is None else (max(bound, dual) if not limited else min(bound, dual))
        if optimal:
            bound = sol.cost if not limited else sum(sol.attainment.values())
    elif milp_time_limit_s > 0:
        sol.notes.append(f"exact solver skipped: {inst.cover.nnz:,} coverage pairs exceed {milp_max_nonzeros:,}")
    sol.bound = bound
    if bound is not None:
        if limited:
            got = sum(sol.attainment.values())
            sol.gap_pct = round(100.0 * max(bound - got, 0.0) / bound, 2) if bound > EPS else 0.0
        else:
            sol.gap_pct = round(100.0 * max(sol.cost - bound, 0.0) / sol.cost, 2) if sol.cost > EPS else 0.0
    return sol


def evaluate(inst: Instance, chosen) -> tuple[float, dict]:
    """Cost and attainment per target (0..1 of the requirement) of any set of candidates, in the selection
    model (for comparing strategies on one instance)."""
    st = _State(inst)
    for j in chosen:
        st.add(int(j))
    return float(inst.cost[list(chosen)].sum()) if len(chosen) else 0.0, st.attainment()


def build_order(inst: Instance, chosen: list[int]) -> list[tuple[int, np.ndarray]]:
    """The chosen actions in the order of the earliest gains (lazy greedy on gain per cost among them), each
    with the weight it adds per target (in ``inst.target_ids`` order)."""
    st = _State(inst)
    heap = [(-st.gain(j) / max(inst.cost[j], EPS), j) for j in chosen]
    heapq.heapify(heap)
    out = []
    while heap:
        _, j = heapq.heappop(heap)
        ratio = st.gain(j) / max(inst.cost[j], EPS)
        if heap and ratio < -heap[0][0] - EPS:
            heapq.heappush(heap, (-ratio, j))
            continue
        before = st.got.copy()
        st.add(j)
        out.append((j, st.got - before))
    return out
