"""Recipes by time budget and the linear learning-rate decay they may use."""

import dataclasses
import json
import math
import types

import keras
import pytest

from nmt_keras import cli, config
from nmt_keras.config import Config, ConfigError, apply_recipe, recipe_for_steps
from nmt_keras.training.train import BACKUP_DIR
from nmt_keras.training.callbacks import LinearDecay


def test_the_recipe_follows_the_steps_a_budget_buys(monkeypatch):
    monkeypatch.setattr(config, "RECIPES", {"tiny": (0, {"units": 64}), "mid": (100, {"units": 128}), "big": (1000, {"units": 256})})
    assert [recipe_for_steps(n) for n in (0, 99, 100, 999, 1000, 10**6)] == ["tiny", "tiny", "mid", "mid", "big", "big"]


def test_every_recipe_is_a_valid_config_that_leaves_the_data_alone():
    for name, (_, changes) in config.RECIPES.items():
        made = apply_recipe(dataclasses.replace(Config(), time_budget=16.0), name, steps=2000)  # validated when made
        assert made.recipe == name and made.time_budget == 16.0
        assert made.decay_steps == (2000 if made.learning_rate_schedule == "linear" else None)
        assert not set(changes) & {"data", "direction", "seed", "validation_size", "test_size", "max_train_pairs"}


def test_a_recipe_applies_under_the_flags_and_a_linear_decay_spans_the_steps_bought():
    made = apply_recipe(Config(), "short", steps=500, given={"embedding_dim": 32})
    assert (made.recipe, made.batch_size, made.embedding_dim) == ("short", config.RECIPES["short"][1]["batch_size"], 32)
    assert made.decay_steps is None  # a constant learning rate
    assert config.RECIPES["medium"][1]["learning_rate_schedule"] == "linear"
    assert apply_recipe(Config(), "medium", steps=700).decay_steps == 700
    assert apply_recipe(Config(), "medium", steps=700, given={"decay_steps": 90}).decay_steps == 90
    constant = apply_recipe(Config(), "medium", steps=700, given={"learning_rate_schedule": "constant"})
    assert constant.decay_steps is None
    with pytest.raises(ConfigError, match="decay_steps applies to learning_rate_schedule 'linear' only"):
        dataclasses.replace(Config(), decay_steps=100)


def _fake_training(monkeypatch, steps_per_second):
    """Stand-ins for the calibration and the training; returns what they saw."""
    seen = {}

    def fake_calibrate(config_, data):
        seen["calibrated"] = config_
        return steps_per_second

    def fake_train(config_, workdir, data=None, verbose=2, callbacks=()):
        seen["config"] = config_
        raise SystemExit(0)

    monkeypatch.setattr("nmt_keras.training.train.calibrate", fake_calibrate)
    monkeypatch.setattr("nmt_keras.training.train.prepare_data", lambda config_: "the data")
    monkeypatch.setattr("nmt_keras.training.train.train_and_evaluate", fake_train)
    return seen


@pytest.mark.parametrize("steps_per_second, recipe", [(0.5, "short"), (2.0, "medium"), (5.0, "long")])
def test_a_budget_gets_the_recipe_for_the_steps_it_buys_here_and_flags_win(monkeypatch, tmp_path, capsys, steps_per_second, recipe):
    seen = _fake_training(monkeypatch, steps_per_second)
    with pytest.raises(SystemExit):
        cli.main(["train", "--output", str(tmp_path / "run"), "--time-budget", "16", "--beam-width", "2"])
    steps = int(steps_per_second * 16 * 60)
    assert seen["calibrated"].recipe is None and seen["calibrated"].batch_size == Config().batch_size
    assert seen["config"].recipe == recipe
    for name in ("batch_size", "learning_rate", "learning_rate_schedule"):
        assert getattr(seen["config"], name) == config.RECIPES[recipe][1].get(name, getattr(Config(), name))
    assert seen["config"].beam_width == 2  # the flag overrides the recipe
    assert seen["config"].time_budget == 16
    linear = seen["config"].learning_rate_schedule == "linear"
    assert seen["config"].decay_steps == (steps if linear else None)
    again = f"--recipe {recipe}" + (f" --decay-steps {steps}" if linear else "")
    output = capsys.readouterr().out
    assert f"recipe {recipe!r}: 16 min buy about {steps:,} training steps" in output
    assert f"{again} repeats this choice" in output


def test_a_named_recipe_needs_no_timing_and_no_budget_no_recipe(monkeypatch, tmp_path):
    seen = _fake_training(monkeypatch, 1.0)
    with pytest.raises(SystemExit):
        cli.main(["train", "--output", str(tmp_path / "run"), "--time-budget", "16", "--recipe", "short"])
    assert "calibrated" not in seen and seen["config"].recipe == "short"
    assert seen["config"].batch_size == config.RECIPES["short"][1]["batch_size"]
    with pytest.raises(SystemExit):
        cli.main(["train", "--output", str(tmp_path / "run")])
    assert "calibrated" not in seen and seen["config"].recipe is None
    assert seen["config"].batch_size == Config().batch_size and seen["config"].beam_width == Config().beam_width


def _write_backup(workdir, settings):
    from nmt_keras.training.callbacks import STATE_FORMAT, STATE_FILE, WEIGHTS_PATTERN

    backup = workdir / BACKUP_DIR
    backup.mkdir(parents=True)
    weights = WEIGHTS_PATTERN.format(step=3)
    (backup / weights).write_bytes(b"")
    record = {"format": STATE_FORMAT, "step": 3, "epoch": 0, "weights_file": weights, "history": {},
              "callbacks": {}, "settings": settings}
    (backup / STATE_FILE).write_text(json.dumps(record), encoding="utf-8")


@pytest.mark.parametrize("recorded, decay_steps", [("short", None), ("medium", 1234)])
def test_an_interrupted_run_keeps_its_recipe_without_timing_again(monkeypatch, tmp_path, recorded, decay_steps):
    seen = _fake_training(monkeypatch, 100.0)  # timing would say "long"
    _write_backup(tmp_path / "run", {"recipe": recorded, "decay_steps": decay_steps})
    with pytest.raises(SystemExit):
        cli.main(["train", "--output", str(tmp_path / "run"), "--time-budget", "16"])
    assert "calibrated" not in seen and seen["config"].recipe == recorded
    assert seen["config"].decay_steps == decay_steps


@pytest.mark.parametrize("recorded", ["fast", ["short"]])
def test_a_backup_naming_an_unknown_recipe_is_refused_in_one_line(monkeypatch, tmp_path, capsys, recorded):
    _fake_training(monkeypatch, 1.0)
    _write_backup(tmp_path / "run", {"recipe": recorded})
    assert cli.main(["train", "--output", str(tmp_path / "run"), "--time-budget", "16"]) == cli.EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1 and "records recipe" in error


def test_calibrate_times_real_training_steps():
    from nmt_keras.training.train import calibrate, prepare_data

    tiny = dataclasses.replace(Config(), units=8, embedding_dim=8, batch_size=8, max_train_pairs=200,
                               validation_size=20, test_size=20)
    data = prepare_data(tiny)
    rate = calibrate(tiny, data, steps=3, warmup=1)
    assert math.isfinite(rate) and rate > 0
    with pytest.raises(ValueError, match="warmup >= 1"):  # the step that traces is never timed
        calibrate(tiny, data, steps=3, warmup=0)


class _Optimizer:
    def __init__(self):
        self.iterations = types.SimpleNamespace(numpy=lambda: self.step)
        self.step = 0
        self.learning_rate = None


def test_linear_decay_reaches_zero_at_the_last_planned_step_and_stops_there():
    callback = LinearDecay(0.01, total_steps=100)
    callback.set_model(types.SimpleNamespace(optimizer=_Optimizer(), stop_training=False))
    callback.on_train_begin()
    rates, stops = [], []
    for step in (0, 50, 99, 100, 150):
        callback.model.optimizer.step = step
        callback.on_train_batch_begin(step)
        rates.append(callback.model.optimizer.learning_rate)
        callback.model.optimizer.step = step + 1  # the step has run
        callback.on_train_batch_end(step)
        stops.append(callback.model.stop_training)
    assert rates == pytest.approx([0.01, 0.005, 0.0001, 0.0, 0.0])
    assert stops == [False, False, True, True, True]


def test_linear_decay_follows_the_clock_when_the_budget_runs_out_first(monkeypatch):
    clock = iter([0.0, 30.0, 45.0])
    monkeypatch.setattr("nmt_keras.training.callbacks.time.perf_counter", lambda: next(clock))
    callback = LinearDecay(1.0, total_steps=10_000, seconds=60.0)
    callback.set_model(types.SimpleNamespace(optimizer=_Optimizer()))
    callback.on_train_begin()
    callback.on_train_batch_begin(0)
    assert callback.model.optimizer.learning_rate == pytest.approx(0.5)  # half the time gone
    callback.on_train_batch_begin(1)
    assert callback.model.optimizer.learning_rate == pytest.approx(0.25)


def test_the_schedule_setting_adds_the_callback(tmp_path):
    from nmt_keras.training.train import Callbacks

    linear = dataclasses.replace(Config(), learning_rate_schedule="linear", time_budget=2.0)
    decays = [c for c in Callbacks.for_run(linear, tmp_path, 500).others if isinstance(c, LinearDecay)]
    assert len(decays) == 1 and decays[0].total_steps == 500 and decays[0].seconds == 120.0
    steps = dataclasses.replace(linear, decay_steps=300)  # the steps alone, not the clock
    decays = [c for c in Callbacks.for_run(steps, tmp_path, 500).others if isinstance(c, LinearDecay)]
    assert len(decays) == 1 and decays[0].total_steps == 300 and decays[0].seconds is None
    assert not any(isinstance(c, LinearDecay) for c in Callbacks.for_run(Config(), tmp_path, 500).others)
    assert isinstance(keras.optimizers.Adam(1e-3).learning_rate, keras.Variable)
