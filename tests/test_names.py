"""SPEC 1.1: model names, alias names and references."""

import string

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from registry_core.errors import InvalidInput
from registry_core.format.manifests import SHA256_RE
from registry_core.format.names import NAME_RE, Ref, check_alias, check_name, check_version, parse_ref
from registry_core.lifecycle.events import EVENT_ID_RE

FIRST = string.ascii_letters + string.digits
REST = FIRST + "._-"
valid_names = st.builds(lambda a, b: a + b, st.sampled_from(FIRST), st.text(REST, max_size=99)).filter(
    lambda n: n.split(".")[0].lower() not in {"con", "prn", "aux", "nul"}
    and not (len(n.split(".")[0]) == 4 and n.split(".")[0][:3].lower() in ("com", "lpt")
             and n.split(".")[0][3].isdigit()))


@given(valid_names)
def test_valid_names_are_accepted_unchanged(name):
    assert check_name(name) == name


@given(st.text(max_size=120))
@example("0\n")  # a regex ending in "$" matches before a trailing newline
@example("model\n")
def test_check_name_accepts_exactly_the_spec_rule(text):
    ok = (0 < len(text) <= 100 and text[0] in FIRST and all(c in REST for c in text)
          and text.split(".")[0].lower() not in {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
                                                 *(f"lpt{i}" for i in range(10))})
    if ok:
        assert check_name(text) == text
    else:
        with pytest.raises(InvalidInput):
            check_name(text)


@pytest.mark.parametrize("bad", ["../x", "a/b", "", "con", "CON", "nul.txt", ".hidden", "-x", "_x", "a b",
                                 "é", "x" * 101, "a\\b", "a\x00b"])
def test_spec_examples_of_bad_names_are_refused_with_the_name_quoted(bad):
    with pytest.raises(InvalidInput) as info:
        check_name(bad)
    assert repr(bad) in str(info.value)


def test_hundred_characters_is_the_limit():
    assert check_name("a" * 100)
    with pytest.raises(InvalidInput):
        check_name("a" * 101)


@given(valid_names, st.integers(min_value=1, max_value=10**9))
def test_ref_with_version_round_trips(model, version):
    ref = parse_ref(f"{model}@{version}")
    assert ref == Ref(model, str(version))
    assert ref.version == version
    assert str(ref) == f"{model}@{version}"


@given(valid_names, valid_names.filter(lambda s: not s.isdigit()))
def test_ref_with_a_named_selector(model, selector):
    ref = parse_ref(f"{model}@{selector}")
    assert ref.model == model and ref.selector == selector and ref.version is None


@given(valid_names)
def test_a_bare_model_means_latest(model):
    assert parse_ref(model) == Ref(model, "latest")


@pytest.mark.parametrize("bad", ["", "@3", "m@", "m@0", "m@-1", "m@../x", "../m@1", "m@a/b", "m@1@2"])
def test_bad_references_are_refused(bad):
    with pytest.raises(InvalidInput):
        parse_ref(bad)


def test_leading_zeros_in_a_version_normalize():
    assert parse_ref("m@007") == Ref("m", "7")


@pytest.mark.parametrize("value", [0, -1, True, "x", "1.5", 1.0, None])
def test_check_version_refuses_non_positive_integers(value):
    with pytest.raises(InvalidInput):
        check_version(value)


def test_check_version_accepts_digits_from_the_command_line():
    assert check_version("12") == 12 and check_version(3) == 3


@pytest.mark.parametrize("bad", ["7", "latest", "none", "None", "production", "staging", "../x", ""])
def test_alias_cannot_be_a_number_latest_none_or_a_stage(bad):
    with pytest.raises(InvalidInput):
        check_alias(bad, {"staging", "production", "archived"})


@given(valid_names.filter(lambda s: not s.isdigit() and s.lower() not in ("latest", "none")))
def test_other_aliases_follow_the_model_name_rule(alias):
    assert check_alias(alias, {"staging"} - {alias}) == alias


@pytest.mark.parametrize(("pattern", "text"), [
    (EVENT_ID_RE, "20260101T000000.000000Z-0123abcd"), (SHA256_RE, "a" * 64), (NAME_RE, "model"),
])
def test_identifiers_with_a_trailing_newline_do_not_match(pattern, text):
    assert pattern.match(text) and not pattern.match(text + "\n")


UNICODE_DIGITS = ["\u00b2", "\u0661", "\u0967", "\uff11", "\u2460", "1\u00b9", "\U0001d7d9", "\u09e7\u09e8"]


@pytest.mark.parametrize("digits", UNICODE_DIGITS)
def test_versions_are_ascii_digits_only(digits):
    """str.isdigit accepts these (and int("\u0661") is 1): a version, a selector or an alias may not be them."""
    assert digits.isdigit() or digits.isnumeric()
    with pytest.raises(InvalidInput, match="positive integer"):
        check_version(digits)
    with pytest.raises(InvalidInput):
        parse_ref(f"fraud@{digits}")
    assert Ref("fraud", digits).version is None
