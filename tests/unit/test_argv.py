"""Global options lifted from anywhere on the command line, the rest left in its order."""

from __future__ import annotations

from iam.argv import lift_global_options

VALUED, FLAGS = ("--config", "--store"), ("--debug", "--wide")


def test_global_options_after_the_command_move_to_the_front_in_their_order() -> None:
    args = ["offboard", "jdoe", "--reason", "left", "--config", "f.yaml", "--debug", "--store=s.db"]
    assert lift_global_options(args, VALUED, FLAGS) == [
        "--config",
        "f.yaml",
        "--debug",
        "--store=s.db",
        "offboard",
        "jdoe",
        "--reason",
        "left",
    ]


def test_nothing_after_a_double_dash_is_lifted_nor_a_valued_option_without_its_value() -> None:
    assert lift_global_options(["status", "--", "--debug"], VALUED, FLAGS) == ["status", "--", "--debug"]
    assert lift_global_options(["runs", "--config"], VALUED, FLAGS) == ["runs", "--config"]
    assert lift_global_options(["--config", "a", "runs"], VALUED, FLAGS) == ["--config", "a", "runs"]
