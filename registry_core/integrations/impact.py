"""A dataset's impact: the usage rows of ``Catalog.dataset_usage`` folded into one row per version."""

from __future__ import annotations


def usage_by_version(usage: list[dict]) -> list[dict]:
    """One row per model version that used the dataset: its current stage, the stages it ever held,
    and its roles and dataset versions joined (a version may name the dataset several times)."""
    rows: dict[str, dict] = {}
    for u in usage:
        ref = f"{u['model']}@{u['version']}"
        row = rows.setdefault(ref, {"ref": ref, "model": u["model"], "version": u["version"], "stage": u["stage"],
                                    "deployed": list(u["deployed"]), "roles": [], "dataset_versions": []})
        role = u["role"] or "?"
        version = u["dataset"].partition("@")[2] or "(unversioned)"
        if role not in row["roles"]:
            row["roles"].append(role)
        if version not in row["dataset_versions"]:
            row["dataset_versions"].append(version)
    return list(rows.values())
