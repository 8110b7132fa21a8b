"""Order routing: which locations ship which units.

Rules, in priority order:
1. a line that some single location can serve whole is never split;
2. fewest shipping locations (each one is a parcel, a label and a partial capture);
3. closest to the destination by the region distance table (sum over locations used).
A line no single location can serve is split across the closest locations that have it.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations

from models.errors import OutOfStock

MAX_CANDIDATE_LOCATIONS = 14  # 2^14 subsets; real networks route among a handful of DCs per order

# Symmetric default; ops override it with ROUTING_DISTANCES (JSON) in settings.
DEFAULT_DISTANCES: dict[str, dict[str, int]] = {
    "us-east": {"us-east": 0, "us-central": 2, "us-west": 4, "eu": 6},
    "us-central": {"us-east": 2, "us-central": 0, "us-west": 2, "eu": 7},
    "us-west": {"us-east": 4, "us-central": 2, "us-west": 0, "eu": 8},
    "eu": {"us-east": 6, "us-central": 7, "us-west": 8, "eu": 0},
}
UNKNOWN_DISTANCE = 10


@dataclass(frozen=True)
class Location:
    location_id: str
    region: str


@dataclass(frozen=True)
class Allocation:
    location_id: str
    sku: str
    quantity: int


def distance(table: Mapping[str, Mapping[str, int]], origin: str, destination: str) -> int:
    if origin == destination:
        return 0
    return table.get(origin, {}).get(destination, table.get(destination, {}).get(origin, UNKNOWN_DISTANCE))


def route(
    lines: Mapping[str, int],
    available: Mapping[tuple[str, str], int],
    locations: list[Location],
    destination_region: str,
    distances: Mapping[str, Mapping[str, int]] = DEFAULT_DISTANCES,
) -> list[Allocation]:
    """Allocate every line; ``available[(location_id, sku)]`` is what may be promised there."""
    dist = {loc.location_id: distance(distances, loc.region, destination_region) for loc in locations}
    stocked = sorted(
        (loc.location_id for loc in locations if any(available.get((loc.location_id, s), 0) > 0 for s in lines)),
        key=lambda loc_id: (dist[loc_id], loc_id),
    )[:MAX_CANDIDATE_LOCATIONS]
    whole_somewhere = {sku for sku, qty in lines.items() if any(available.get((l, sku), 0) >= qty for l in stocked)}
    for size in range(1, len(stocked) + 1):
        best: tuple[int, list[Allocation]] | None = None
        for subset in combinations(stocked, size):
            plan = _plan_within(lines, available, subset, dist, whole_somewhere)
            if plan is None or len({a.location_id for a in plan}) != size:
                continue
            cost = sum(dist[loc_id] for loc_id in subset)
            if best is None or cost < best[0]:
                best = (cost, plan)
        if best:
            return best[1]
    short = {sku: qty for sku, qty in lines.items() if sum(available.get((l, sku), 0) for l in stocked) < qty}
    raise OutOfStock(f"cannot route: not enough stock for {', '.join(sorted(short))}", details={"skus": sorted(short)})


def _plan_within(lines, available, subset, dist, whole_somewhere) -> list[Allocation] | None:
    by_closeness = sorted(subset, key=lambda loc_id: (dist[loc_id], loc_id))
    plan: list[Allocation] = []
    for sku in sorted(lines):
        qty = lines[sku]
        whole = [loc_id for loc_id in by_closeness if available.get((loc_id, sku), 0) >= qty]
        if whole:
            plan.append(Allocation(whole[0], sku, qty))
            continue
        if sku in whole_somewhere:
            return None  # splitting here would break rule 1
        remaining = qty
        for loc_id in by_closeness:
            take = min(available.get((loc_id, sku), 0), remaining)
            if take:
                plan.append(Allocation(loc_id, sku, take))
                remaining -= take
        if remaining:
            return None
    return plan
