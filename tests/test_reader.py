"""index.reader.Reader: the core's questions over one generation of the index (#17)."""

from builders import ALICE

from registry_core import Catalog

FD = "fraud-detector"


def test_a_reader_keeps_answering_from_its_generation(fraud):
    before = fraud.reader()
    numbers = before.version_numbers(FD)
    fraud.register(FD, metrics={"test": {"roc_auc": 0.5}})
    assert before.version_numbers(FD) == numbers                       # one generation, one answer
    after = fraud.reader()
    assert after.version_numbers(FD) == [*numbers, numbers[-1] + 1]
    assert after.headline(FD, numbers[-1] + 1) == {("roc_auc", "test", None): 0.5}


def test_inside_a_snapshot_the_reader_is_the_snapshots(fraud):
    with fraud.snapshot():
        pinned = fraud.reader()
        Catalog(fraud.root, user=ALICE).register(FD)                    # another writer
        assert fraud.reader().version_numbers(FD) == pinned.version_numbers(FD)
    assert len(fraud.reader().version_numbers(FD)) == len(pinned.version_numbers(FD)) + 1


def test_reader_answers_what_the_catalog_answers(fraud):
    reader = fraud.reader()
    assert reader.state(FD) == fraud.state(FD)
    assert reader.models() == fraud.models()
    assert reader.problems() == fraud.problems()
    assert reader.version_file(FD, 999) is None and reader.model("no-such-model") is None
    assert reader.model(FD)["model"] == FD
