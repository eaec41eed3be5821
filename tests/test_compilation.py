"""Validating compile settings read from a model's compile config."""

from __future__ import annotations

import keras
import pytest

from grader.trusted import compilation


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


# -- bounds: every optimizer and metric argument checked for its type and range ---------------------

def _accuracy_compiled(**kwargs) -> dict:
    return _compiled(loss="sparse_categorical_crossentropy", **kwargs)


@pytest.mark.parametrize("metric, words", [
    ({"module": "keras.metrics", "class_name": "AUC", "config": {"num_thresholds": 50_000_000}},
     "num_thresholds is 50000000; expected a whole number from 2 to 1,000"),
    ({"module": "keras.metrics", "class_name": "AUC", "config": {"thresholds": [0.5] * 5_000_000}},
     "5,000,000 entries"),
    ({"module": "keras.metrics", "class_name": "Precision", "config": {"thresholds": [0.5, 2.0]}}, "from 0 to 1"),
    ({"module": "keras.metrics", "class_name": "AUC", "config": {"label_weights": [1.0] * 10}}, "default (None)"),
    ({"module": "keras.metrics", "class_name": "SparseCategoricalAccuracy", "config": {"payload": "x" * 10**6}},
     "argument 'payload' the grader does not rebuild"),
    ({"module": "keras.metrics", "class_name": "SparseTopKCategoricalAccuracy", "config": {"k": "5"}}, "k is '5'"),
    ({"module": "keras.metrics", "class_name": ["AUC"], "config": {}}, "not one of Keras' metrics"),
])
def test_metric_arguments_are_bounded(metric, words) -> None:
    config = _accuracy_compiled(optimizer="adam", metrics=["accuracy"])
    config["metrics"] = [metric]
    with pytest.raises(compilation.CompileError) as caught:
        compilation.parse(config)
    assert words in str(caught.value) and len(str(caught.value)) < 600


def test_bounded_metric_arguments_are_kept_and_names_dropped() -> None:
    settings = compilation.parse(_accuracy_compiled(optimizer="adam", metrics=[
        keras.metrics.AUC(num_thresholds=50, name="n" * 100_000), keras.metrics.Precision(thresholds=[0.3, 0.6])]))
    auc, precision = (m["config"] for m in settings.metric_configs)
    assert auc["num_thresholds"] == 50 and "name" not in auc
    assert precision["thresholds"] == pytest.approx((0.3, 0.6))
    built = settings.build()["metrics"]
    assert built[0].num_thresholds == 50


def test_too_many_metrics_are_refused() -> None:
    config = _accuracy_compiled(optimizer="adam", metrics=["accuracy"])
    config["metrics"] = ["accuracy"] * 1_000_000
    with pytest.raises(compilation.CompileError, match="1,000,000 metrics"):
        compilation.parse(config)


@pytest.mark.parametrize("key, value, words", [
    ("learning_rate", float("inf"), "learning_rate is inf; expected a single number"),
    ("learning_rate", float("nan"), "learning_rate is nan"),
    ("learning_rate", "0.1", "learning_rate is '0.1'"),
    ("learning_rate", -1.0, "learning_rate is -1.0"),
    ("beta_1", 7.0, "beta_1 is 7.0; expected a single number from 0 to 1"),
    ("gradient_accumulation_steps", 10**9, "gradient_accumulation_steps is 1000000000"),
    ("amsgrad", [1, 2], "expected True or False"),
    ("backdoor", 1, "argument 'backdoor' the grader does not rebuild"),
])
def test_optimizer_arguments_are_bounded(key, value, words) -> None:
    config = _accuracy_compiled(optimizer=keras.optimizers.Adam(0.01))
    config["optimizer"]["config"][key] = value
    with pytest.raises(compilation.CompileError) as caught:
        compilation.parse(config)
    assert words in str(caught.value)


def test_a_huge_but_finite_learning_rate_is_the_students_choice() -> None:
    settings = compilation.parse(_accuracy_compiled(optimizer=keras.optimizers.Adam(learning_rate=1e30)))
    assert settings.optimizer_config["learning_rate"] == pytest.approx(1e30)


@pytest.mark.parametrize("optimizer", ["Adam", "AdamW", "Adamax", "Nadam", "SGD", "RMSprop", "Adagrad", "Adadelta",
                                       "Lion", "Ftrl"])
def test_every_optimizer_as_keras_serialises_it_is_accepted_and_rebuilt(optimizer) -> None:
    original = getattr(keras.optimizers, optimizer)(learning_rate=0.02, clipnorm=1.0)
    settings = compilation.parse(_accuracy_compiled(optimizer=original))
    rebuilt = settings.build()["optimizer"]
    assert type(rebuilt) is type(original)
    assert float(rebuilt.learning_rate) == pytest.approx(0.02) and rebuilt.clipnorm == 1.0


def test_huge_names_in_a_refused_loss_are_cut() -> None:
    config = _accuracy_compiled(optimizer="adam")
    config["loss"] = {"module": "keras.losses", "class_name": "L" * 1_000_000, "config": {}}
    with pytest.raises(compilation.CompileError) as caught:
        compilation.parse(config)
    assert len(str(caught.value)) < 300
    config["loss"] = {"module": "keras.losses", "class_name": ["unhashable"], "config": {}}
    with pytest.raises(compilation.CompileError):
        compilation.parse(config)


@pytest.mark.parametrize("loss, words", [
    (keras.losses.SparseCategoricalCrossentropy(ignore_class=0), "ignore_class is set"),
    (keras.losses.SparseCategoricalCrossentropy(reduction="sum"), "reduction is sum; the grader trains with its default"),
    (keras.losses.CategoricalCrossentropy(label_smoothing=0.9), "label_smoothing is 0.9"),
])
def test_loss_arguments_that_change_training_are_refused_not_dropped(loss, words: str) -> None:
    with pytest.raises(compilation.CompileError, match=words):
        compilation.parse(_compiled(optimizer="adam", loss=loss, metrics=["accuracy"]))


def test_loss_arguments_at_their_defaults_and_from_logits_are_accepted() -> None:
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum_over_batch_size", name="mine")
    settings = compilation.parse(_compiled(optimizer="adam", loss=loss, metrics=["accuracy"]))
    assert settings.from_logits and settings.loss == "sparse_categorical_crossentropy"


def test_refused_settings_leave_their_optimizer_to_training() -> None:
    config = _compiled(optimizer=keras.optimizers.Adam(learning_rate=1e30), loss="sparse_categorical_crossentropy",
                       metrics=["accuracy"])
    config["metrics"] = ["no_such_metric"]
    with pytest.raises(compilation.CompileError):
        compilation.parse(config)
    kept = compilation.fallback(config)
    assert (kept.optimizer, kept.refused) == ("Adam", "") and kept.optimizer_config["learning_rate"] == pytest.approx(1e30)
    config["optimizer"] = {"module": "mine", "class_name": "Magic", "config": {}}
    assert "not one of Keras' built-in optimizers" in compilation.fallback(config).refused
