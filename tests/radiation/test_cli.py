"""``hepjax data make bricks``: the command line."""

import argparse

import pytest

from hepjax.cli import _data


def _parse(argv):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    _data.add_data_parser(sub)
    return parser.parse_args(argv)


def test_bricks_is_a_data_set_with_events(tmp_path):
    args = _parse(["data", "make", "bricks", "--events", "10", "--out", str(tmp_path)])
    assert args.dataset == "bricks" and args.events == 10


def test_bricks_without_events_is_an_error(tmp_path, capsys):
    args = _parse(["data", "make", "bricks", "--out", str(tmp_path)])
    assert _data.cmd_data_make(args) == 2
    assert "--events" in capsys.readouterr().err


def test_other_data_sets_still_need_n(tmp_path, capsys):
    args = _parse(["data", "make", "jetnet", "--out", str(tmp_path)])
    assert _data.cmd_data_make(args) == 2
    assert "--n" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _parse(["data", "make", "bricks", "--events", "0", "--out", str(tmp_path)])
