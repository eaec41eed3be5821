"""Validating compile settings read from a model's compile config."""

from __future__ import annotations

import keras
import pytest

from grader import compilation


def _compiled(**kwargs) -> dict:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(**kwargs)
    return model.get_compile_config()


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", keras.losses.sparse_categorical_crossentropy,
                                  keras.losses.SparseCategoricalCrossentropy()])
def test_the_loss_is_recognised_as_a_string_function_or_class(loss) -> None:
    settings = compilation.parse(_compiled(optimizer="adam", loss=loss, metrics=["accuracy"]))
    assert settings.optimizer == "Adam"
    assert settings.loss == "sparse_categorical_crossentropy"
    assert settings.has_accuracy and not settings.from_logits


def test_from_logits_and_metric_classes_are_read() -> None:
    settings = compilation.parse(_compiled(optimizer=keras.optimizers.Adam(0.01),
                                           loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                                           metrics=[keras.metrics.SparseCategoricalAccuracy()]))
    assert settings.from_logits and settings.has_accuracy
    assert settings.optimizer_config["learning_rate"] == pytest.approx(0.01)
    built = settings.build()
    assert isinstance(built["optimizer"], keras.optimizers.Adam)
    assert built["loss"].get_config()["from_logits"] is True


def test_aliases_are_canonical() -> None:
    assert compilation.parse(_compiled(optimizer="adam", loss="mse")).loss == "mean_squared_error"
    assert not compilation.parse(_compiled(optimizer="adam", loss="mse")).has_accuracy


def test_unknown_objects_are_refused() -> None:
    config = _compiled(optimizer="adam", loss="sparse_categorical_crossentropy")
    config["loss"] = {"module": "os", "class_name": "system", "config": {}}
    with pytest.raises(compilation.CompileError, match="system"):
        compilation.parse(config)
    config["loss"] = "sparse_categorical_crossentropy"
    config["optimizer"] = {"module": "evil", "class_name": "Adam", "config": {}}
    with pytest.raises(compilation.CompileError, match="built-in optimizers"):
        compilation.parse(config)


def test_a_learning_rate_schedule_object_is_refused_with_advice() -> None:
    config = _compiled(optimizer="adam", loss="sparse_categorical_crossentropy")
    config["optimizer"]["config"]["learning_rate"] = {"class_name": "ExponentialDecay", "config": {}}
    with pytest.raises(compilation.CompileError, match="plain number"):
        compilation.parse(config)
