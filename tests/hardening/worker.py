"""One racing writer: ``python worker.py ROOT NAME ROUNDS START [REQUEST]``.

Waits until the wall-clock time START so that every worker begins together, then on the shared model
``shared`` runs ROUNDS rounds of: register a version, log a metric table to it, promote it to staging,
promote it to production, point the alias ``w-NAME`` at it.  With REQUEST it instead approves that
request of the model ``gated`` once.  Prints one JSON line of what it did, for the test to account for
every write.
"""

from __future__ import annotations

import json
import sys
import time

from registry_core import Catalog, RegistryError


def race(root: str, name: str, rounds: int) -> dict:
    cat = Catalog(root, user=f"{name}@example.com")
    done: dict = {"versions": [], "tables": [], "promotions": [], "aliases": 0, "errors": []}
    for i in range(rounds):
        version = cat.register("shared", params={"worker": name, "round": i},
                               metrics={"test": {"roc_auc": 0.5 + i / 100}})["version"]
        done["versions"].append(version)
        done["tables"].append(cat.log_metrics(f"shared@{version}", [
            {"metric": "loss", "value": 1.0 / (step + 1), "step": step, "dataset": "train"} for step in range(3)]))
        for stage in ("staging", "production"):
            result = cat.promote("shared", version, stage, reason=f"{name} round {i}")
            done["promotions"].append([version, stage, result["status"]])
        cat.alias("shared", version, f"w-{name}")
        done["aliases"] += 1
    return done


def approve(root: str, name: str, request: str) -> dict:
    try:
        result = Catalog(root, user=f"{name}@example.com").approve("gated", request, reason=name)
        return {"status": result["status"], "approvals": result["approvals"]}
    except RegistryError as exc:
        return {"status": "refused", "error": str(exc), "kind": type(exc).__name__}


if __name__ == "__main__":
    root, name, rounds, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    while time.time() < start:
        time.sleep(0.002)
    if len(sys.argv) > 5:
        print(json.dumps(approve(root, name, sys.argv[5])))
    else:
        print(json.dumps(race(root, name, rounds)))
