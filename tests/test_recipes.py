"""Recipes by time budget and the linear learning-rate decay they may use."""

import dataclasses
import types

import keras
import pytest

from nmt_keras import cli, config
from nmt_keras.config import Config, recipe_for
from nmt_keras.training.callbacks import LinearDecay


def test_recipe_for_takes_the_largest_budget_that_fits(monkeypatch):
    monkeypatch.setattr(config, "RECIPES", {4: {"units": 64}, 16: {"units": 128}, 60: {"units": 256}})
    assert recipe_for(16) == {"units": 128}
    assert recipe_for(30) == {"units": 128}
    assert recipe_for(100) == {"units": 256}
    assert recipe_for(1) == {"units": 64}  # below every budget: the smallest


def test_every_recipe_is_a_valid_config():
    for minutes, changes in config.RECIPES.items():
        dataclasses.replace(Config(), time_budget=max(minutes, 1), **changes).validate()


def test_train_with_a_budget_starts_from_its_recipe_and_flags_win(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "RECIPES", {0: {"units": 96, "dropout": 0.2}})
    seen = {}

    def fake_train(config_, workdir, verbose=2, callbacks=()):
        seen["config"] = config_
        raise SystemExit(0)

    monkeypatch.setattr("nmt_keras.training.train.train_and_evaluate", fake_train)
    with pytest.raises(SystemExit):
        cli.main(["train", "--output", str(tmp_path / "run"), "--time-budget", "16", "--dropout", "0.1"])
    assert seen["config"].units == 96  # from the recipe
    assert seen["config"].dropout == 0.1  # the flag overrides it
    assert seen["config"].time_budget == 16
    with pytest.raises(SystemExit):
        cli.main(["train", "--output", str(tmp_path / "run")])
    assert seen["config"].units == Config().units  # no budget: no recipe


class _Optimizer:
    def __init__(self):
        self.iterations = types.SimpleNamespace(numpy=lambda: self.step)
        self.step = 0
        self.learning_rate = None


def test_linear_decay_reaches_zero_at_the_last_planned_step():
    callback = LinearDecay(0.01, total_steps=100)
    callback.set_model(types.SimpleNamespace(optimizer=_Optimizer()))
    callback.on_train_begin()
    rates = []
    for step in (0, 50, 99, 100, 150):
        callback.model.optimizer.step = step
        callback.on_train_batch_begin(step)
        rates.append(callback.model.optimizer.learning_rate)
    assert rates == pytest.approx([0.01, 0.005, 0.0001, 0.0, 0.0])


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
    assert not any(isinstance(c, LinearDecay) for c in Callbacks.for_run(Config(), tmp_path, 500).others)
    assert isinstance(keras.optimizers.Adam(1e-3).learning_rate, keras.Variable)
