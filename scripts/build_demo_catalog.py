"""Rebuild the bundled demo catalog from real training runs.

    python scripts/build_demo_catalog.py [--out catalog]

Three models are trained on data that ships with scikit-learn (generated
transactions, the digits images, the diabetes table), several versions each,
logged through ``registry_core.integrations.tracking`` and saved in the skops format (no
pickle).  Then a team plays a story through the real ``Catalog`` API, each
call acting as its user: promotions, a request approved by a lead, gates that
refuse, a forced promotion, a rejection, a rollback, aliases, and one request
left pending.  The folder is deleted and rebuilt; the script refuses to delete
a folder that does not look like a catalog.  Needs the ``demo`` extra.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sklearn
import skops.io as sio
from sklearn.datasets import load_diabetes, load_digits, make_classification
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from registry_core import Catalog, PolicyRefused
from registry_core.integrations.tracking import Run, start_run

ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"
FRAMEWORK = f"scikit-learn {sklearn.__version__}"
BUNDLED = f"sklearn-{sklearn.__version__}"

REGISTRY_YAML = """\
# The bundled demo catalog, rebuilt by scripts/build_demo_catalog.py (do not edit by hand).
format: 1
name: modelreg demo
# A demo catalog: the dashboard offers its roles' users in an "act as" picker. Never on a real catalog.
demo: true
stages:
  - name: staging
  - name: production
    exclusive: true
  - name: archived
metrics:
  roc_auc: {goal: max}
  log_loss: {goal: min}
  precision: {goal: max}
  recall: {goal: max}
  accuracy: {goal: max}
  f1_macro: {goal: max}
  loss: {goal: min}
  rmse: {goal: min}
  mae: {goal: min}
  r2: {goal: max}
  latency_p95_ms: {goal: min, unit: ms}
# The catalog's policies fit fraud-detector; the other models override them in their model.yaml.
policies:
  staging:
    gates:
      - {metric: roc_auc, dataset: validation, min: 0.90}
  production:
    from: [staging]
    gates:
      - {metric: roc_auc, dataset: test, min: 0.93}
      - {metric: roc_auc, dataset: test, vs: production, tolerance: 0.005}
      - {metric: latency_p95_ms, max: 50}
      - {metric: recall, dataset: test, slice: region=eu, min: 0.65}
      - {check: artifacts_verified}
    approvals: 1
    approvers: [lead]
    requesters: [data-scientist, lead]
aliases:
  champion: {setters: [lead]}
roles:
  lead: [alice@example.com]
  data-scientist: [bob@example.com, carol@example.com]
"""

MODEL_YAML = {
    "fraud-detector": """\
name: fraud-detector
description: Flags card transactions for manual review. Gradient-boosted trees on 20 transaction features
  and the customer's region; trained on scikit-learn's make_classification data (85/15 imbalance).
owner: bob@example.com
task: binary-classification
tags: {team: risk, data: synthetic-transactions}
""",
    "digits-classifier": """\
name: digits-classifier
description: Reads handwritten digits from 8x8 scans (scikit-learn's bundled digits data). A small
  multi-layer perceptron trained epoch by epoch.
owner: carol@example.com
task: multi-class-classification
tags: {team: vision, data: digits}
policies:
  staging:
    gates:
      - {metric: accuracy, dataset: validation, min: 0.90}
  production:
    from: [staging]
    gates:
      - {metric: accuracy, dataset: test, min: 0.93}
      - {metric: accuracy, dataset: test, vs: production, tolerance: 0.005}
      - {metric: latency_p95_ms, max: 50}
      - {check: artifacts_verified}
    approvals: 1
    approvers: [lead]
    requesters: [data-scientist, lead]
""",
    "diabetes-progression": """\
name: diabetes-progression
description: Predicts disease progression one year after baseline from ten measurements (scikit-learn's
  bundled diabetes data). Gradient-boosted regression trees.
owner: bob@example.com
task: regression
tags: {team: health, data: diabetes}
policies:
  staging:
    gates:
      - {metric: r2, dataset: validation, min: 0.30}
  production:
    from: [staging]
    gates:
      - {metric: rmse, dataset: test, max: 62}
      - {metric: rmse, dataset: test, vs: production, tolerance: 1.0}
      - {check: artifacts_verified}
      - {check: has_lineage}
    approvals: 1
    approvers: [lead]
    requesters: [data-scientist, lead]
""",
}


# -- data -----------------------------------------------------------------------------------------------
@dataclass
class Splits:
    """60/20/20 train/validation/test, with where the data came from for the lineage."""

    name: str
    version: str
    X: dict[str, np.ndarray]
    y: dict[str, np.ndarray]

    @classmethod
    def of(cls, name: str, version: str, X: np.ndarray, y: np.ndarray, stratify: bool) -> Splits:
        X_train, X_rest, y_train, y_rest = train_test_split(X, y, test_size=0.4, random_state=0,
                                                            stratify=y if stratify else None)
        X_val, X_test, y_val, y_test = train_test_split(X_rest, y_rest, test_size=0.5, random_state=0,
                                                        stratify=y_rest if stratify else None)
        return cls(name, version, {"train": X_train, "validation": X_val, "test": X_test},
                   {"train": y_train, "validation": y_val, "test": y_test})

    def log(self, run: Run) -> None:
        for role in ("train", "validation", "test"):
            run.log_dataset(role, self.name, self.version, data=(self.X[role], self.y[role]))


def transactions() -> Splits:
    """Generated transactions; the last column is the region (1 = eu), whose rows are noisier."""
    X, y = make_classification(n_samples=6000, n_features=20, n_informative=8, n_redundant=4, weights=[0.85],
                               flip_y=0.01, class_sep=1.1, random_state=7)
    rng = np.random.default_rng(7)
    eu = rng.random(len(y)) < 0.4
    X[eu, :8] += rng.normal(0, 0.9, (int(eu.sum()), 8))
    return Splits.of("synthetic-transactions", "make_classification-seed7", np.column_stack([X, eu]), y, True)


def digits() -> Splits:
    data = load_digits()
    return Splits.of("digits", BUNDLED, data.data / 16.0, data.target, True)


def shifted(images: np.ndarray, seed: int) -> np.ndarray:
    """Each 8x8 image moved by one pixel in a random direction: scans from a misaligned scanner."""
    rng = np.random.default_rng(seed)
    grid = images.reshape(-1, 8, 8)
    out = np.empty_like(grid)
    for i, image in enumerate(grid):
        out[i] = np.roll(image, int(rng.choice([-1, 1])), axis=int(rng.integers(0, 2)))
    return out.reshape(len(images), 64)


def diabetes() -> Splits:
    X, y = load_diabetes(return_X_y=True)
    return Splits.of("diabetes", BUNDLED, X, y, False)


# -- helpers --------------------------------------------------------------------------------------------
def latency_p95_ms(model, X: np.ndarray, calls: int = 300) -> float:
    """95th percentile of single-row predict() time, measured here on one thread (as a serving worker)."""
    times = []
    with threadpool_limits(1):
        for i in range(calls):
            row = X[i % len(X): i % len(X) + 1]
            start = time.perf_counter()
            model.predict(row)
            times.append(time.perf_counter() - start)
    return float(np.percentile(times, 95) * 1000)


def save_model(run: Run, model, workdir: Path) -> None:
    path = workdir / f"{run.id}.skops"
    sio.dump(model, path, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    run.log_artifact(path, name="model.skops")


def load_model(catalog: Catalog, ref: str):
    """Load a registered skops model, trusting only scikit-learn and NumPy types."""
    found = catalog.resolve(ref)
    path = Path(found["path"]) / "artifacts" / "model.skops"
    types = sio.get_untrusted_types(file=path)
    unexpected = [t for t in types if not t.startswith(("sklearn.", "numpy."))]
    if unexpected:
        raise SystemExit(f"error: {path}: refusing to load unexpected types {unexpected}")
    return sio.load(path, trusted=types), found["ref"]


def live(metric: str, value: float, stamp: dt.datetime, slice_: str | None = None) -> dict:
    """A monitoring row: every column present, so no row's keys depend on another's."""
    return {"metric": metric, "value": float(value), "dataset": "live", "step": None, "timestamp": stamp,
            "slice": slice_}


def days_before(now: dt.datetime, count: int) -> list[dt.datetime]:
    """``count`` daily timestamps ending today at 06:00 UTC."""
    last = now.replace(hour=6, minute=0, second=0, microsecond=0)
    if last > now:
        last -= dt.timedelta(days=1)
    return [last - dt.timedelta(days=count - 1 - i) for i in range(count)]


@dataclass
class Trained:
    """A registered version and the fitted model behind it."""

    version: int
    ref: str
    model: object


class Story:
    """The acting users; each step checks that it turned out as the story says."""

    def __init__(self, root: Path, workdir: Path) -> None:
        self.workdir = workdir
        base = Catalog(root)
        self.as_ = {user: base.as_user(user) for user in (ALICE, BOB, CAROL)}

    def say(self, line: str) -> None:
        print(f"  {line}")

    def promote(self, user: str, model: str, version: int, stage: str, reason: str | None = None,
                force: bool = False, refused: bool = False) -> dict | None:
        """Promote or request; ``refused=True`` when the story expects the policy to say no."""
        who = user.split("@")[0]
        try:
            result = self.as_[user].promote(model, version, stage, reason=reason, force=force)
        except PolicyRefused as exc:
            if not refused:
                raise SystemExit(f"error: the story expects {model}@{version} -> {stage} to pass: {exc}") from None
            self.say(f"{who}: {model}@{version} -> {stage} REFUSED (nothing written): {exc}")
            return None
        if refused:
            raise SystemExit(f"error: the story expects the gates to refuse {model}@{version} -> {stage}")
        verb = {"promoted": "promoted", "pending": "requested"}[result["status"]]
        self.say(f"{who} {verb}{' (forced)' if force else ''} {model}@{version} -> {stage}"
                 f"{' ' + result['request'] if result['request'] else ''}")
        return result

    def answer(self, user: str, action: str, model: str, request: str, reason: str) -> None:
        result = getattr(self.as_[user], action)(model, request, reason=reason)
        done = {"approve": "approved", "reject": "rejected", "cancel": "cancelled"}[action]
        self.say(f"{user.split('@')[0]} {done} {request} of {model}: {result['status']}")


# -- fraud-detector -------------------------------------------------------------------------------------
def train_fraud(story: Story, data: Splits, user: str, params: dict, description: str,
                parent: str | None = None) -> Trained:
    catalog = story.as_[user]
    with start_run("fraud-detector", catalog=catalog, description=description, task="binary-classification",
                   framework=FRAMEWORK, tags={"experiment": "fraud-gbt"}) as run:
        if parent:
            model, pinned = load_model(catalog, parent)
            run.add_parent(pinned)
            model.set_params(warm_start=True, **params)
            run.set_tag("warm_start_from", pinned)
        else:
            model = HistGradientBoostingClassifier(early_stopping=False, random_state=0, **params)
        data.log(run)
        model.fit(data.X["train"], data.y["train"])
        run.log_params(model.get_params())
        for role in ("train", "validation"):
            for step, proba in enumerate(model.staged_predict_proba(data.X[role]), start=1):
                run.log_metric("log_loss", log_loss(data.y[role], proba), step=step, dataset=role)
                run.log_metric("roc_auc", roc_auc_score(data.y[role], proba[:, 1]), step=step, dataset=role)
        for role in ("validation", "test"):
            X, y = data.X[role], data.y[role]
            run.log_metrics(fraud_scores(model, X, y), dataset=role)
        X, y = data.X["test"], data.y["test"]
        for region, mask in (("eu", X[:, -1] == 1), ("us", X[:, -1] == 0)):
            run.log_metrics(fraud_scores(model, X[mask], y[mask]), dataset="test", slice=f"region={region}")
        run.log_metric("latency_p95_ms", latency_p95_ms(model, X))
        save_model(run, model, story.workdir)
    story.say(f"{user.split('@')[0]} registered {run.ref} (roc_auc[test] "
              f"{roc_auc_score(y, model.predict_proba(X)[:, 1]):.4f})")
    return Trained(run.version, run.ref, model)


def fraud_scores(model, X: np.ndarray, y: np.ndarray) -> dict:
    proba = model.predict_proba(X)
    predicted = proba[:, 1] >= 0.5
    return {"roc_auc": roc_auc_score(y, proba[:, 1]), "log_loss": log_loss(y, proba),
            "precision": precision_score(y, predicted, zero_division=0), "recall": recall_score(y, predicted)}


def drifted_day(data: Splits, day: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A day of live traffic: a bootstrap of the test split whose eu rows drift a little more each day."""
    index = rng.choice(len(data.y["test"]), len(data.y["test"]), replace=True)
    X, y = data.X["test"][index].copy(), data.y["test"][index]
    eu = X[:, -1] == 1
    shift = 0.05 * day
    X[eu, :8] += rng.normal(shift, 0.3 + shift, (int(eu.sum()), 8))
    return X, y


def monitor_fraud(story: Story, trained: Trained, data: Splits, stamps: list[dt.datetime]) -> list[float]:
    """Daily live roc_auc and eu recall of a deployed version; returns the eu recalls."""
    rng = np.random.default_rng(11)
    rows, recalls = [], []
    for day, stamp in enumerate(stamps):
        X, y = drifted_day(data, day, rng)
        proba = trained.model.predict_proba(X)[:, 1]
        eu = X[:, -1] == 1
        recall_eu = recall_score(y[eu], proba[eu] >= 0.5)
        recalls.append(recall_eu)
        rows += [live("roc_auc", roc_auc_score(y, proba), stamp), live("recall", recall_eu, stamp, "region=eu")]
    story.as_[BOB].log_metrics(trained.ref, rows)
    story.say(f"bob logged {len(stamps)} days of live monitoring for {trained.ref}")
    return recalls


def fraud_story(story: Story) -> None:
    model = "fraud-detector"
    data = transactions()
    v1 = train_fraud(story, data, BOB, {"max_iter": 40, "learning_rate": 0.1, "max_leaf_nodes": 8},
                     "Baseline: 40 boosting rounds of small trees.")
    story.promote(BOB, model, v1.version, "staging", "baseline for the fraud queue")
    request = story.promote(BOB, model, v1.version, "production", "first model to replace the rules engine")
    story.answer(ALICE, "approve", model, request["request"], "gates pass; start with the baseline")

    v2 = train_fraud(story, data, BOB, {"max_iter": 80, "learning_rate": 0.1, "max_leaf_nodes": 15,
                                        "l2_regularization": 1.0},
                     "Deeper trees (15 leaves), L2 regularization, 80 rounds.")
    story.promote(BOB, model, v2.version, "staging")
    request = story.promote(BOB, model, v2.version, "production", "better ranking on validation and test")
    story.answer(ALICE, "approve", model, request["request"], "clear improvement over v1")

    v3 = train_fraud(story, data, CAROL, {"max_iter": 30, "learning_rate": 0.05, "max_depth": 2},
                     "A cheap model: 30 rounds of depth-2 trees, for the low-latency path.")
    story.promote(CAROL, model, v3.version, "staging", "try the cheap model")
    story.promote(CAROL, model, v3.version, "production", "cheaper to serve", refused=True)

    v4 = train_fraud(story, data, BOB, {"max_iter": 120}, "v2 warm-started for 40 more boosting rounds.",
                     parent=f"{model}@{v2.version}")
    story.promote(BOB, model, v4.version, "staging")
    request = story.promote(BOB, model, v4.version, "production", "v2 plus 40 rounds; same or better")
    story.answer(ALICE, "approve", model, request["request"], "within tolerance of v2, slightly better recall")

    stamps = days_before(dt.datetime.now(dt.UTC), 14)
    recalls = monitor_fraud(story, v4, data, stamps)
    if not recalls[-1] < 0.65 <= recalls[0]:
        raise SystemExit(f"error: the story expects live eu recall to fall below 0.65; got {recalls}")
    reason = (f"live recall for region=eu fell from {recalls[0]:.2f} to {recalls[-1]:.2f} over the two weeks v4 "
              f"served (gate: 0.65); back to v{v2.version} while we check whether the model or the traffic changed")
    result = story.as_[ALICE].rollback(model, "production", reason)
    story.say(f"alice rolled back {model} production: v{result['replaced']} -> v{result['version']}")
    story.as_[ALICE].alias(model, v2.version, "champion")
    story.say(f"alice set {model} champion -> v{v2.version}")

    v5 = train_fraud(story, data, BOB, {"max_iter": 150, "learning_rate": 0.05, "max_leaf_nodes": 15,
                                        "class_weight": "balanced"},
                     "Class-weighted training (balanced) for recall on the drifting eu traffic; 150 rounds.")
    story.as_[BOB].alias(model, v5.version, "challenger")
    story.say(f"bob set {model} challenger -> v{v5.version}")
    story.promote(BOB, model, v5.version, "staging", "balanced class weights")
    story.promote(BOB, model, v5.version, "production", "recall on region=eu much higher; please review")  # pending


# -- digits-classifier ----------------------------------------------------------------------------------
def train_digits(story: Story, data: Splits, user: str, params: dict, epochs: int, description: str,
                 parent: str | None = None) -> Trained:
    catalog = story.as_[user]
    classes = np.arange(10)
    X_train, y_train = data.X["train"], data.y["train"]
    with start_run("digits-classifier", catalog=catalog, description=description,
                   task="multi-class-classification", framework=FRAMEWORK, tags={"experiment": "digits-mlp"}) as run:
        first = 1
        if parent:
            model, pinned = load_model(catalog, parent)
            run.add_parent(pinned)
            first = int(story.as_[user].get(pinned)["manifest"]["params"]["epochs"]) + 1
            moved = shifted(X_train, seed=3)
            run.log_dataset("train", "digits-shifted", f"{BUNDLED}-roll1-seed3", data=(moved, y_train))
            X_train, y_train = np.vstack([X_train, moved]), np.concatenate([y_train, y_train])
            run.set_tag("fine_tuned_from", pinned)
        else:
            model = MLPClassifier(random_state=0, **params)
        data.log(run)
        for epoch in range(first, first + epochs):
            model.partial_fit(X_train, y_train, classes=classes)
            run.log_metric("loss", model.loss_, step=epoch, dataset="train")
            for role in ("train", "validation"):
                run.log_metric("accuracy", accuracy_score(data.y[role], model.predict(data.X[role])), step=epoch,
                               dataset=role)
            run.log_metric("log_loss", log_loss(data.y["validation"], model.predict_proba(data.X["validation"]),
                                                labels=classes), step=epoch, dataset="validation")
        run.log_params({**model.get_params(), "epochs": first + epochs - 1})
        for role in ("validation", "test"):
            run.log_metrics(digits_scores(model, data.X[role], data.y[role]), dataset=role)
        test_shifted = shifted(data.X["test"], seed=5)
        run.log_dataset("test-shifted", "digits-shifted", f"{BUNDLED}-roll1-seed5", data=(test_shifted, data.y["test"]))
        run.log_metrics(digits_scores(model, test_shifted, data.y["test"]), dataset="test-shifted")
        run.log_metric("latency_p95_ms", latency_p95_ms(model, data.X["test"]))
        save_model(run, model, story.workdir)
    story.say(f"{user.split('@')[0]} registered {run.ref} (accuracy[test] "
              f"{accuracy_score(data.y['test'], model.predict(data.X['test'])):.4f})")
    return Trained(run.version, run.ref, model)


def digits_scores(model, X: np.ndarray, y: np.ndarray) -> dict:
    predicted = model.predict(X)
    return {"accuracy": accuracy_score(y, predicted), "f1_macro": f1_score(y, predicted, average="macro"),
            "log_loss": log_loss(y, model.predict_proba(X), labels=np.arange(10))}


def digits_story(story: Story) -> None:
    model = "digits-classifier"
    data = digits()
    v1 = train_digits(story, data, CAROL, {"hidden_layer_sizes": (32,), "learning_rate_init": 0.001}, 40,
                      "One hidden layer of 32 units, 40 epochs of Adam.")
    story.promote(CAROL, model, v1.version, "staging")
    story.promote(CAROL, model, v1.version, "production", "first digits model", refused=True)  # accuracy < 0.93

    v2 = train_digits(story, data, CAROL, {"hidden_layer_sizes": (64,), "learning_rate_init": 0.001}, 40,
                      "One hidden layer of 64 units, 40 epochs.")
    v3 = train_digits(story, data, CAROL, {"hidden_layer_sizes": (64, 32), "learning_rate_init": 0.001}, 40,
                      "Two hidden layers (64, 32), 40 epochs.")
    story.promote(CAROL, model, v2.version, "staging")
    story.promote(CAROL, model, v3.version, "staging")
    request_v2 = story.promote(CAROL, model, v2.version, "production", "64 units passes every gate")
    request_v3 = story.promote(CAROL, model, v3.version, "production", "two layers, best test accuracy so far")
    story.answer(ALICE, "approve", model, request_v3["request"], "best accuracy on validation and test")
    story.answer(ALICE, "reject", model, request_v2["request"], f"v{v3.version} is better and now in production")

    v4 = train_digits(story, data, CAROL, {}, 15,
                      f"v{v3.version} fine-tuned for 15 epochs on the training images plus copies shifted by one "
                      "pixel, for the misaligned scanner.", parent=f"{model}@{v3.version}")
    story.promote(CAROL, model, v4.version, "staging")
    request = story.promote(CAROL, model, v4.version, "production", "robust to shifted scans")
    story.answer(ALICE, "approve", model, request["request"], "same accuracy on clean scans, far better on shifted")
    story.as_[ALICE].alias(model, v4.version, "champion")
    story.say(f"alice set {model} champion -> v{v4.version}")

    rng = np.random.default_rng(13)
    rows = []
    for day, stamp in enumerate(days_before(dt.datetime.now(dt.UTC), 14)):
        share = 0.1 + 0.03 * day  # more and more scans come from the misaligned scanner
        index = rng.choice(len(data.y["test"]), len(data.y["test"]), replace=True)
        X, y = data.X["test"][index].copy(), data.y["test"][index]
        moved = rng.random(len(y)) < share
        X[moved] = shifted(X[moved], seed=100 + day)
        rows.append(live("accuracy", accuracy_score(y, v4.model.predict(X)), stamp))
    story.as_[CAROL].log_metrics(v4.ref, rows)
    story.say(f"carol logged {len(rows)} days of live monitoring for {v4.ref}")


# -- diabetes-progression -------------------------------------------------------------------------------
def train_diabetes(story: Story, data: Splits, user: str, params: dict, description: str) -> Trained:
    with start_run("diabetes-progression", catalog=story.as_[user], description=description, task="regression",
                   framework=FRAMEWORK, tags={"experiment": "diabetes-gbt"}) as run:
        model = HistGradientBoostingRegressor(early_stopping=False, random_state=0, **params)
        data.log(run)
        model.fit(data.X["train"], data.y["train"])
        run.log_params(model.get_params())
        for role in ("train", "validation"):
            for step, predicted in enumerate(model.staged_predict(data.X[role]), start=1):
                run.log_metric("rmse", root_mean_squared_error(data.y[role], predicted), step=step, dataset=role)
        for role in ("validation", "test"):
            predicted = model.predict(data.X[role])
            y = data.y[role]
            run.log_metrics({"rmse": root_mean_squared_error(y, predicted), "mae": mean_absolute_error(y, predicted),
                             "r2": r2_score(y, predicted)}, dataset=role)
        run.log_metric("latency_p95_ms", latency_p95_ms(model, data.X["test"]))
        save_model(run, model, story.workdir)
    story.say(f"{user.split('@')[0]} registered {run.ref} (rmse[test] "
              f"{root_mean_squared_error(data.y['test'], model.predict(data.X['test'])):.2f})")
    return Trained(run.version, run.ref, model)


def diabetes_story(story: Story) -> None:
    model = "diabetes-progression"
    data = diabetes()
    v1 = train_diabetes(story, data, BOB, {"max_iter": 100, "learning_rate": 0.1, "max_depth": 2},
                        "Depth-2 trees, 100 rounds.")
    story.promote(BOB, model, v1.version, "staging")
    request = story.promote(BOB, model, v1.version, "production", "first regression model for the clinic")
    story.answer(ALICE, "approve", model, request["request"], "fine as a first version")

    v2 = train_diabetes(story, data, BOB, {"max_iter": 200, "learning_rate": 0.03, "max_depth": 2,
                                           "l2_regularization": 1.0},
                        "Slower learning rate (0.03), 200 rounds, L2 regularization.")
    story.promote(BOB, model, v2.version, "staging")
    story.promote(ALICE, model, v2.version, "production", force=True,
                  reason="the clinic wants the lower-error model for Monday's review and no second lead is "
                         "around to approve; forcing instead of waiting a week")

    v3 = train_diabetes(story, data, BOB, {"max_iter": 200, "learning_rate": 0.2, "max_leaf_nodes": 31},
                        "Big trees (31 leaves) at learning rate 0.2: does capacity help?")
    story.promote(BOB, model, v3.version, "staging", "more capacity", refused=True)  # overfits: r2 too low

    v4 = train_diabetes(story, data, CAROL, {"max_iter": 150, "learning_rate": 0.05, "max_leaf_nodes": 8},
                        "8-leaf trees, learning rate 0.05, 150 rounds.")
    story.promote(CAROL, model, v4.version, "staging", "candidate for next month")

    rng = np.random.default_rng(17)
    rows = []
    for stamp in days_before(dt.datetime.now(dt.UTC), 14):
        index = rng.choice(len(data.y["test"]), len(data.y["test"]), replace=True)
        X, y = data.X["test"][index], data.y["test"][index]
        rows.append(live("rmse", root_mean_squared_error(y, v2.model.predict(X)), stamp))
    story.as_[BOB].log_metrics(v2.ref, rows)
    story.say(f"bob logged {len(rows)} days of live monitoring for {v2.ref}")


# -- the folder -----------------------------------------------------------------------------------------
def looks_like_catalog(path: Path) -> bool:
    """Only a folder holding registry.yaml and nothing but catalog entries may be deleted."""
    allowed = {"registry.yaml", "models", ".gitignore", ".modelreg"}
    names = {p.name for p in path.iterdir()}
    return "registry.yaml" in names and names <= allowed


def prepare(out: Path) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise SystemExit(f"error: --out {out}: not a folder; refusing to replace it")
    if out.exists() and any(out.iterdir()):
        if not looks_like_catalog(out):
            raise SystemExit(f"error: --out {out}: does not look like a modelreg catalog (registry.yaml, models/); "
                             "refusing to delete it")
        shutil.rmtree(out)


def build(out: Path) -> None:
    prepare(out)
    Catalog.init(out, name="modelreg demo")
    (out / "registry.yaml").write_text(REGISTRY_YAML, encoding="utf-8")
    for model, text in MODEL_YAML.items():
        folder = out / "models" / model
        folder.mkdir(parents=True)
        (folder / "model.yaml").write_text(text, encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="modelreg-demo-") as workdir:
        story = Story(out, Path(workdir))
        for name, play in (("fraud-detector", fraud_story), ("digits-classifier", digits_story),
                           ("diabetes-progression", diabetes_story)):
            print(name)
            play(story)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="catalog", help="catalog folder to (re)build (default: catalog)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", module="sklearn")  # convergence notes of the partial_fit epochs
    started = time.monotonic()
    out = Path(args.out)
    with threadpool_limits(1):  # these data sets are tiny: one thread is faster than two fighting
        build(out)
    catalog = Catalog(out)
    problems = catalog.validate()
    errors = [p for p in problems if p["severity"] == "error"]
    checked = catalog.verify()
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file() and ".modelreg" not in p.parts)
    versions = catalog.query("SELECT model, count(*) AS n FROM versions GROUP BY model ORDER BY model")
    print(f"built {out} in {time.monotonic() - started:.0f} s: "
          + ", ".join(f"{r.model} {r.n} versions" for r in versions.itertuples())
          + f"; {size / 2**20:.2f} MiB; validate: {len(errors)} errors, {len(problems) - len(errors)} warnings; "
          f"verify: {sum(c['ok'] for c in checked)}/{len(checked)} artifacts ok")
    return 1 if errors or not all(c["ok"] for c in checked) else 0


if __name__ == "__main__":
    sys.exit(main())
