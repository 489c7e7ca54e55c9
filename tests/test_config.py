import re

import pytest

from explorer.spec.errors import ConfigError
from explorer.spec.knobs import KNOBS, LIVE_KNOBS, Config, parse_assignment


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"dropout": 1.0}, "dropout must be in [0, 1)"),
        ({"dropout": -0.1}, "dropout must be in [0, 1)"),
        ({"l2": -1e-4}, "l2 must be in"),
        ({"clip": -1}, "clip must be in"),
        ({"cell": "transformer"}, "cell must be one of rnn, gru, lstm"),
        ({"train_fraction": 0}, "train_fraction must be in (0, 1]"),
        ({"layers": 4}, "layers must be in [1, 3]"),
        ({"batchnorm": "maybe"}, "batchnorm must be on|off|true|false"),
        ({"hidden": "12.5"}, "hidden must be a whole number"),
    ],
)
def test_out_of_range_knobs_are_named(changes, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        Config().replace(**changes)


def test_unknown_knob_is_refused():
    with pytest.raises(ConfigError, match="unknown knob 'dropuot'"):
        Config().replace(dropuot=0.5)


def test_strings_from_cli_and_url_are_parsed():
    c = Config().replace(dropout="0.5", batchnorm="on", hidden="64", cell="gru")
    assert (c.dropout, c.batchnorm, c.hidden, c.cell) == (0.5, True, 64, "gru")


def test_query_round_trip_keeps_only_changes():
    c = Config(dropout=0.3, batchnorm=True, cell="gru", l2=1e-4)
    query = c.to_query()
    assert query == {"dropout": "0.3", "batchnorm": "on", "cell": "gru", "l2": "0.0001"}
    assert Config.from_query({**query, "utm_source": "x"}) == c
    assert Config.from_dict(c.to_dict()) == c


def test_live_and_fixed_knobs_are_split():
    assert {"dropout", "l2", "l1", "clip", "batchnorm", "lr"} <= set(LIVE_KNOBS)
    assert not KNOBS["cell"].live and not KNOBS["seed"].live


def test_assignment_parsing():
    assert parse_assignment("dropout=0.5") == ("dropout", 0.5)
    assert parse_assignment("batchnorm=on") == ("batchnorm", True)
    with pytest.raises(ConfigError, match="unknown knob 'dropz'"):
        parse_assignment("dropz=0.1")
    with pytest.raises(ConfigError, match="hidden is fixed"):
        parse_assignment("hidden=10")
    with pytest.raises(ConfigError, match="expected KNOB=VALUE"):
        parse_assignment("dropout")


def test_a_renamed_value_parses_to_its_new_name():
    assert KNOBS["dropout_kind"].parse("variational") == "locked"
    assert parse_assignment("dropout_kind=variational") == ("dropout_kind", "locked")
    with pytest.raises(ConfigError, match="dropout_kind must be one of standard, locked"):
        KNOBS["dropout_kind"].parse("gal")


def test_an_old_link_and_an_old_stored_config_load_with_the_new_name():
    assert Config.from_query({"dropout": "0.5", "dropout_kind": "variational"}).dropout_kind == "locked"
    stored = Config().to_dict()
    stored["dropout_kind"] = "variational"
    del stored["l1_kind"], stored["split"]  # written before these knobs existed
    loaded = Config.from_dict(stored)
    assert (loaded.dropout_kind, loaded.l1_kind, loaded.split) == ("locked", "subgradient", "contiguous")
    assert loaded.to_query() == {"dropout_kind": "locked"}
