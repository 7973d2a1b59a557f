"""The Distiller behaves like any Keras model: Keras' own callbacks, sample and class weights,
fit / evaluate / predict, and cached teacher logits that cannot collide with Keras' slots."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import NUM_CLASSES, hinton_terms, same_weights, tiny_mlp, weights_of

from kd_lab.teacher_logits import compute_teacher_logits
from kd_utils import Distiller, pipeline
from kd_utils.callbacks import StudentCheckpoint, metric_direction

EPOCHS = 4


def fitted_distiller(teacher, student, toy_data, callbacks, verbose=0, **fit_kwargs):
    x, y = toy_data
    distiller = Distiller(student=student, teacher=teacher, temperature=4.0, alpha=0.3)
    distiller.compile(optimizer=keras.optimizers.SGD(0.1))
    history = distiller.fit(x, y, validation_split=0.25, batch_size=16, epochs=EPOCHS,
                            verbose=verbose, callbacks=callbacks, **fit_kwargs)
    return distiller, history.history


class StopAfter(keras.callbacks.Callback):
    """Interrupt a fit after `epochs` epochs, as a crash would."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epochs:
            raise KeyboardInterrupt


def test_model_checkpoint_saves_weights_that_load_back(teacher, student, toy_data, tmp_path):
    path = tmp_path / "distiller.weights.h5"
    distiller, _ = fitted_distiller(teacher, student, toy_data, [
        keras.callbacks.ModelCheckpoint(str(path), save_weights_only=True)])
    fresh = Distiller(student=tiny_mlp(width=8, seed=5),
                      teacher=tiny_mlp(width=32, seed=6), temperature=4.0, alpha=0.3)
    fresh.load_weights(str(path))
    assert same_weights(weights_of(fresh.student), weights_of(distiller.student))


def test_student_checkpoint_saves_the_student_as_a_keras_model(teacher, student, toy_data,
                                                                tmp_path):
    path = tmp_path / "student.keras"
    distiller, _ = fitted_distiller(teacher, student, toy_data, [
        StudentCheckpoint(str(path), monitor="val_accuracy", save_best_only=False)])
    loaded = keras.models.load_model(path)  # no kd_utils needed to read it back
    x, _ = toy_data
    np.testing.assert_allclose(loaded.predict(x, verbose=0), student.predict(x, verbose=0),
                               rtol=1e-6)
    with pytest.raises(NotImplementedError, match="StudentCheckpoint"):
        distiller.save(tmp_path / "distiller.keras")


def test_backup_and_restore_resumes_an_interrupted_fit(teacher, student, toy_data, tmp_path):
    import json

    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(KeyboardInterrupt):
        fitted_distiller(teacher, student, toy_data, [backup, StopAfter(2)])
    saved = json.loads((tmp_path / "backup" / "training_metadata.json").read_text())["epoch"]
    assert saved >= 1
    _, history = fitted_distiller(teacher, student, toy_data, [backup])
    assert len(history["loss"]) == EPOCHS - saved  # it went on from the backup, not from 0


@pytest.mark.parametrize("monitor", ["val_accuracy", "val_teacher_agreement", "val_loss",
                                     "val_distillation_loss", "val_student_loss"])
def test_early_stopping_knows_each_metrics_direction_without_a_mode(monitor, teacher, student,
                                                                    toy_data):
    # No epoch counts as an improvement after the first (min_delta), so it stops after 2.
    stopper = keras.callbacks.EarlyStopping(monitor=monitor, patience=1, min_delta=1e9)
    _, history = fitted_distiller(teacher, student, toy_data, [stopper])
    assert len(history["loss"]) == 2 < EPOCHS
    up = monitor.endswith(("accuracy", "agreement"))
    assert stopper.monitor_op is (keras.ops.greater if up else keras.ops.less)
    assert metric_direction(monitor) == ("max" if up else "min")
    assert metric_direction("s3_teacher_agreement") == "max"
    assert metric_direction("val_s0_kl_divergence") == "min"


def test_reduce_lr_on_plateau_lowers_the_rate(teacher, student, toy_data):
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=0,
                                                min_delta=1e9)  # never an improvement
    distiller, _ = fitted_distiller(teacher, student, toy_data, [plateau])
    assert float(distiller.optimizer.learning_rate) < 0.1


def test_csv_logger_and_progbar_log_the_distillation_terms(teacher, student, toy_data,
                                                           tmp_path, capsys):
    path = tmp_path / "log.csv"
    fitted_distiller(teacher, student, toy_data, [keras.callbacks.CSVLogger(str(path)),
                                                  keras.callbacks.ProgbarLogger()], verbose=2)
    header = path.read_text().splitlines()[0].split(",")
    assert {"distillation_loss", "val_teacher_agreement", "kl_divergence"} <= set(header)
    assert len(path.read_text().splitlines()) == EPOCHS + 1
    assert "distillation_loss" in capsys.readouterr().out


def test_tensorboard_writes_the_distillation_scalars(teacher, student, toy_data, tmp_path):
    fitted_distiller(teacher, student, toy_data, [keras.callbacks.TensorBoard(str(tmp_path))])
    tags = set()
    for event_file in tmp_path.glob("validation/events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            tags |= {value.tag for value in event.summary.value}
    assert {"epoch_distillation_loss", "epoch_student_loss", "epoch_teacher_agreement",
            "epoch_accuracy", "epoch_kl_divergence", "epoch_loss"} <= tags


# -- sample and class weights ----------------------------------------------------------------
def test_weighted_losses_match_a_numpy_reference():
    labels = np.array([0, 2, 1])
    student = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [1.0, -1.0, 0.0]], np.float32)
    teacher = np.array([[3.0, 0.0, 0.0], [0.0, 1.0, 2.0], [0.0, 2.0, 1.0]], np.float32)
    weights = np.array([1.0, 3.0, 0.0], np.float32)
    temperature = 2.0

    def log_softmax(z):
        z = np.asarray(z, np.float64)
        return z - z.max(1, keepdims=True) - np.log(np.exp(z - z.max(1, keepdims=True)).sum(
            1, keepdims=True))

    hard = -log_softmax(student)[np.arange(3), labels]
    p, q = log_softmax(teacher / temperature), log_softmax(student / temperature)
    kl = (np.exp(p) * (p - q)).sum(1)
    # Keras' default reduction: the weighted sum over the batch size, not over the weights.
    expected_hard, expected_kl = (weights * hard).sum() / 3, (weights * kl).sum() / 3
    terms = hinton_terms(labels, teacher, student, temperature, 0.25, weights)
    assert float(terms.hard) == pytest.approx(expected_hard, rel=1e-5)  # float32 against 64
    assert float(terms.details["kl_divergence"]) == pytest.approx(expected_kl, rel=1e-5)
    assert float(terms.soft) == pytest.approx(temperature**2 * expected_kl, rel=1e-5)
    assert float(terms.total) == pytest.approx(
        0.25 * expected_hard + 0.75 * temperature**2 * expected_kl, rel=1e-5)
    keras_ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    assert float(terms.hard) == pytest.approx(float(keras_ce(labels, student, weights)),
                                              rel=1e-6)


@pytest.mark.parametrize("weighting", ["sample_weight", "class_weight"])
def test_weights_change_a_distillers_update_as_they_change_a_plain_models(weighting, toy_data):
    x, y = toy_data
    kwargs = ({"sample_weight": np.linspace(0.0, 2.0, len(y)).astype("float32")}
              if weighting == "sample_weight" else {"class_weight": {0: 1.0, 1: 5.0, 2: 0.5}})
    plain = tiny_mlp(seed=3)
    plain.compile(keras.optimizers.SGD(0.5), keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    plain.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0, **kwargs)
    distiller = Distiller(student=tiny_mlp(seed=3), teacher=None, alpha=1.0)
    distiller.compile(keras.optimizers.SGD(0.5))
    distiller.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0, **kwargs)
    assert same_weights(weights_of(distiller.student), weights_of(plain), atol=1e-6)
    unweighted = Distiller(student=tiny_mlp(seed=3), teacher=None, alpha=1.0)
    unweighted.compile(keras.optimizers.SGD(0.5))
    unweighted.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    assert not same_weights(weights_of(unweighted.student), weights_of(plain), atol=1e-4)


def test_class_weight_on_imbalanced_data_shifts_a_distilled_students_predictions():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 8)).astype("float32")
    y = np.where(x[:, 0] + 0.3 * rng.normal(size=400) > 1.3, 1, 0).astype("int32")  # ~10% ones
    teacher = tiny_mlp(width=32, num_classes=2, seed=1)
    logits = compute_teacher_logits(teacher, x)

    def share_predicted_one(class_weight):
        student = tiny_mlp(num_classes=2, seed=2)
        distiller = Distiller(student=student, teacher=None, temperature=2.0, alpha=0.5)
        distiller.compile(keras.optimizers.Adam(0.01))
        distiller.fit(pipeline.with_teacher_logits(x, logits), y, batch_size=64, epochs=30,
                      verbose=0, class_weight=class_weight)
        return float((distiller.predict(x, verbose=0).argmax(-1) == 1).mean())

    assert share_predicted_one({0: 1.0, 1: 9.0}) > share_predicted_one(None) + 0.05


# -- cached logits ride in the inputs --------------------------------------------------------
def test_cached_logits_in_the_inputs_leave_keras_slots_free(teacher, student, toy_data):
    x, y = toy_data
    logits = compute_teacher_logits(teacher, x)
    dataset = pipeline.make_dataset(x, y, teacher_logits=logits, batch_size=32)
    inputs, labels = next(iter(dataset))
    assert set(inputs) == {"inputs", "teacher_logits"} and labels.shape == (32,)
    distiller = Distiller(student=student, teacher=None, alpha=0.5)
    distiller.compile("adam")
    distiller.fit(dataset, epochs=1, verbose=0)
    evaluated = distiller.evaluate(dataset, verbose=0, return_dict=True)
    assert 0.0 <= evaluated["teacher_agreement"] <= 1.0 and "distillation_loss" in evaluated
    np.testing.assert_allclose(distiller.predict(pipeline.with_teacher_logits(x, logits),
                                                 verbose=0), student.predict(x, verbose=0),
                               rtol=1e-6)


def test_a_batch_the_distiller_cannot_read_is_refused_naming_what_it_expects(student, toy_data):
    x, y = toy_data
    logits = np.zeros((len(x), NUM_CLASSES), "float32")
    old_style = tf.data.Dataset.from_tensor_slices((x, y, logits)).batch(16)  # logits as 3rd
    distiller = Distiller(student=student, teacher=None, alpha=0.5)
    distiller.compile("adam")
    with pytest.raises(ValueError, match=r"read as sample weights.*with_teacher_logits"):
        distiller.fit(old_style, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="inputs given as a dict must be"):
        distiller.fit({"x": x, "teacher_logits": logits}, y, epochs=1, verbose=0)
