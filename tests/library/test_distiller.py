"""The Distiller: frozen teacher, learning student, history, saving, parity, and bad input."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import NUM_CLASSES, NUM_FEATURES, same_weights, tiny_mlp, weights_of

from kd_lab.teacher_logits import compute_teacher_logits
from kd_utils import Distiller, NonFiniteLossError, losses, pipeline

HISTORY_KEYS = ["loss", "student_loss", "distillation_loss", "kl_divergence", "accuracy",
                "teacher_agreement", "total_loss"]


def one_sgd_step(model_or_distiller, dataset, **compile_kwargs):
    model_or_distiller.compile(optimizer=keras.optimizers.SGD(0.5), **compile_kwargs)
    model_or_distiller.fit(dataset, epochs=1, verbose=0, shuffle=False)


def test_teacher_frozen_and_student_learns(teacher, student, toy_data):
    x, y = toy_data
    teacher_before, student_before = weights_of(teacher), weights_of(student)
    distiller = Distiller(student=student, teacher=teacher, temperature=4.0, alpha=0.1)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    distiller.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert same_weights(weights_of(teacher), teacher_before)
    assert not same_weights(weights_of(student), student_before)
    assert not teacher.trainable
    assert all(any(v is w for w in student.trainable_variables) for v in distiller.trainable_variables)


def test_call_returns_the_students_logits(teacher, student, toy_data):
    x, _ = toy_data
    distiller = Distiller(student=student, teacher=teacher)
    np.testing.assert_allclose(distiller(x), student(x), rtol=1e-6)


def test_history_has_every_loss_for_train_and_validation(teacher, student, toy_data):
    x, y = toy_data
    distiller = Distiller(student=student, teacher=teacher, temperature=3.0, alpha=0.5)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    history = distiller.fit(x[:64], y[:64], validation_data=(x[64:], y[64:]), batch_size=16,
                            epochs=2, verbose=0).history
    expected = HISTORY_KEYS + ["val_" + k for k in HISTORY_KEYS]
    assert sorted(history) == sorted(expected)
    for key, values in history.items():
        assert len(values) == 2 and np.all(np.isfinite(values)), key
    assert all(0.0 <= v <= 1.0 for v in history["teacher_agreement"])
    # The total is the alpha-weighted sum of the tracked terms (epoch means of batch means).
    total = 0.5 * np.array(history["val_student_loss"]) + 0.5 * np.array(history["val_distillation_loss"])
    np.testing.assert_allclose(history["val_loss"], total, rtol=1e-5)
    np.testing.assert_allclose(np.array(history["val_distillation_loss"]),
                               9.0 * np.array(history["val_kl_divergence"]), rtol=1e-5)


def test_scratch_mode_reports_only_hard_label_terms(student, toy_data):
    x, y = toy_data
    distiller = Distiller(student=student, teacher=None, alpha=1.0)
    distiller.compile(optimizer="adam")
    history = distiller.fit(x, y, batch_size=32, epochs=1, verbose=0).history
    assert sorted(history) == ["accuracy", "loss", "student_loss", "total_loss"]


def test_extra_compiled_metrics_are_reported(teacher, student, toy_data):
    x, y = toy_data
    distiller = Distiller(student=student, teacher=teacher)
    top2 = keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")
    distiller.compile(optimizer="adam", metrics=["accuracy", top2])
    history = distiller.fit(x, y, batch_size=32, epochs=1, verbose=0).history
    assert "top2" in history and history["top2"][0] >= history["accuracy"][0]


def test_student_saves_and_loads_alone(teacher, student, toy_data, tmp_path):
    x, y = toy_data
    distiller = Distiller(student=student, teacher=teacher)
    distiller.compile(optimizer="adam")
    distiller.fit(x, y, batch_size=32, epochs=1, verbose=0)
    distiller.student.save(tmp_path / "student.keras")
    reloaded = keras.models.load_model(tmp_path / "student.keras")
    np.testing.assert_allclose(reloaded(x), student(x), rtol=1e-6)


def test_saving_the_distiller_points_to_the_student(teacher, student, tmp_path):
    distiller = Distiller(student=student, teacher=teacher)
    with pytest.raises(NotImplementedError, match=r"distiller\.student\.save"):
        distiller.save(tmp_path / "distiller.keras")
    with pytest.raises(NotImplementedError, match=r"distiller\.student"):
        distiller.get_config()


def test_alpha_one_gives_exactly_the_plain_cross_entropy_update(teacher, toy_data):
    x, y = toy_data
    plain, distilled = tiny_mlp(seed=5), tiny_mlp(seed=5)
    batches = pipeline.make_dataset(x, y, batch_size=32)
    one_sgd_step(plain, batches, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    one_sgd_step(Distiller(student=distilled, teacher=teacher, temperature=5.0, alpha=1.0), batches)
    assert same_weights(weights_of(plain), weights_of(distilled), atol=1e-6)
    assert not same_weights(weights_of(plain), weights_of(tiny_mlp(seed=5)))


def test_cached_logits_give_the_same_update_as_the_live_teacher(teacher, toy_data):
    x, y = toy_data
    live, cached = tiny_mlp(seed=6), tiny_mlp(seed=6)
    logits = compute_teacher_logits(teacher, x)
    one_sgd_step(Distiller(student=live, teacher=teacher, temperature=4.0, alpha=0.2),
                 pipeline.make_dataset(x, y, batch_size=32))
    one_sgd_step(Distiller(student=cached, teacher=None, temperature=4.0, alpha=0.2),
                 pipeline.make_dataset(x, y, teacher_logits=logits, batch_size=32))
    assert same_weights(weights_of(live), weights_of(cached), atol=1e-6)


def test_parity_with_keras_distillation_distiller(teacher, toy_data):
    x, y = toy_data
    ours, theirs = tiny_mlp(seed=7), tiny_mlp(seed=7)
    batches = pipeline.make_dataset(x, y, batch_size=32)
    one_sgd_step(Distiller(student=ours, teacher=teacher, temperature=3.0, alpha=0.3), batches)
    reference = keras.distillation.Distiller(
        teacher=teacher, student=theirs, student_loss_weight=0.3,
        distillation_losses=keras.distillation.LogitsDistillation(
            temperature=3.0, loss=keras.losses.KLDivergence()))
    one_sgd_step(reference, batches, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert same_weights(weights_of(ours), weights_of(theirs), atol=1e-5)


class TrainingFlagRecorder(keras.layers.Layer):
    """Records the `training` flag it is called with (at trace time, which is what runs)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.flags = []

    def call(self, inputs, training=None):
        self.flags.append(training)
        return inputs


def test_teacher_runs_in_inference_mode(student, toy_data):
    x, y = toy_data
    recorder = TrainingFlagRecorder()
    keras.utils.set_random_seed(3)
    teacher = keras.Sequential([keras.Input((NUM_FEATURES,)), keras.layers.Dense(16), recorder,
                                keras.layers.Dense(NUM_CLASSES)])
    recorder.flags.clear()
    distiller = Distiller(student=student, teacher=teacher)
    distiller.compile(optimizer="adam")
    distiller.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert recorder.flags and not any(recorder.flags)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_nan_loss_stops_training_naming_the_run_with_finite_weights(teacher, student, toy_data,
                                                                    jit_compile):
    # A NaN among the teacher's cached logits (in the second batch of 32) makes the soft loss
    # NaN on any CPU: a NaN input image does not, where oneDNN's kernels let ReLU drop it.
    # The batches are made by hand: make_dataset refuses the NaN before training, and the
    # Distiller looks at a dataset's first batch only.
    x, y = toy_data
    logits = compute_teacher_logits(teacher, x)
    logits[40] = np.nan
    distiller = Distiller(student=student, teacher=None, run_name="my-nan-run")
    distiller.compile(optimizer="sgd", jit_compile=jit_compile)
    batches = tf.data.Dataset.from_tensor_slices((pipeline.with_teacher_logits(x, logits),
                                                  y)).batch(32)
    with pytest.raises(NonFiniteLossError, match="my-nan-run"):
        distiller.fit(batches, epochs=3, verbose=0)
    assert all(np.isfinite(w).all() for w in student.get_weights())


# -- bad input: a clear error naming the argument, before any training ------------------------
@pytest.mark.parametrize("kwargs,match", [
    (dict(temperature=0.0), "temperature"),
    (dict(temperature=-2.0), "temperature"),
    (dict(temperature=float("inf")), "temperature"),
    (dict(temperature=float("nan")), "temperature"),
    (dict(temperature="4"), "temperature"),  # float() would take it
    (dict(temperature=True), "temperature"),
    (dict(alpha=-0.5), "alpha"),
    (dict(alpha=1.01), "alpha"),
    (dict(alpha="0.5"), "alpha"),
])
def test_bad_temperature_or_alpha_is_rejected(teacher, student, kwargs, match):
    with pytest.raises(ValueError, match=match):
        Distiller(student=student, teacher=teacher, **kwargs)


def test_teacher_and_student_widths_must_match(student):
    wide_teacher = tiny_mlp(num_classes=NUM_CLASSES + 2, seed=3)
    with pytest.raises(ValueError, match="teacher outputs 5 logits but student outputs 3"):
        Distiller(student=student, teacher=wide_teacher)


@pytest.mark.parametrize("role", ["teacher", "student"])
@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_a_model_ending_in_softmax_is_rejected(role, activation):
    softmax_model = tiny_mlp(seed=4, softmax=True, name="probs")
    if activation == "sigmoid":
        softmax_model = keras.Sequential([keras.Input((NUM_FEATURES,)), keras.layers.Dense(
            NUM_CLASSES, activation="sigmoid")], name="probs")
    logits_model = tiny_mlp(seed=5)
    models = {"teacher": logits_model, "student": logits_model}
    models[role] = softmax_model
    with pytest.raises(ValueError, match=f"{role} 'probs' ends in softmax"):
        Distiller(**models)


class HiddenSoftmax(keras.Model):
    """A subclassed model whose softmax no layer inspection can see."""

    def __init__(self):
        super().__init__(name="hidden_softmax")
        self.dense = keras.layers.Dense(NUM_CLASSES)

    def call(self, inputs, training=None):
        return tf.nn.softmax(self.dense(inputs))


def test_probabilities_are_caught_at_fit_before_training(student, toy_data):
    x, y = toy_data
    teacher = HiddenSoftmax()
    teacher(x[:1])
    before = weights_of(student)
    distiller = Distiller(student=student, teacher=teacher)
    distiller.compile(optimizer="adam")
    with pytest.raises(ValueError, match="teacher 'hidden_softmax' gives probabilities"):
        distiller.fit(x, y, epochs=1, verbose=0)
    assert same_weights(weights_of(student), before)
    with pytest.raises(ValueError, match="teacher 'hidden_softmax' gives probabilities"):
        compute_teacher_logits(teacher, x)


@pytest.mark.parametrize("labels,match", [
    (lambda y: y + NUM_CLASSES, r"labels 3\.\.5 but the models output 3 classes"),
    (lambda y: y - 1, "labels must lie in 0..2"),
    (lambda y: y.astype("float32"), "integer class ids"),
    (lambda y: keras.utils.to_categorical(y, NUM_CLASSES).astype("int32"), r"shape \(N,\)"),
    (lambda y: y[:10], "96 examples but y has 10"),
])
def test_bad_labels_are_rejected_before_training(teacher, student, toy_data, labels, match):
    x, y = toy_data
    before = weights_of(student)
    distiller = Distiller(student=student, teacher=teacher)
    distiller.compile(optimizer="adam")
    with pytest.raises(ValueError, match=match):
        distiller.fit(x, labels(y), epochs=1, verbose=0)
    assert same_weights(weights_of(student), before)


def test_bad_validation_labels_are_rejected_before_training(teacher, student, toy_data):
    x, y = toy_data
    distiller = Distiller(student=student, teacher=teacher)
    distiller.compile(optimizer="adam")
    with pytest.raises(ValueError, match="validation_data"):
        distiller.fit(x, y, validation_data=(x, y + 7), epochs=1, verbose=0)


def test_cached_logits_must_match_inputs_and_width(teacher, student, toy_data):
    x, y = toy_data
    logits = compute_teacher_logits(teacher, x)
    with pytest.raises(ValueError, match="teacher_logits has 50 rows but x has 96"):
        pipeline.make_dataset(x, y, teacher_logits=logits[:50])
    distiller = Distiller(student=student, teacher=None, alpha=0.5)
    distiller.compile(optimizer="adam")
    with pytest.raises(ValueError, match="cached teacher_logits in x outputs 4 logits but student outputs 3"):
        distiller.fit(pipeline.make_dataset(x, y, teacher_logits=np.zeros((96, 4), "float32")))
    probabilities = tf.nn.softmax(logits).numpy()
    with pytest.raises(ValueError, match="cached teacher_logits in x gives probabilities"):
        distiller.fit(pipeline.make_dataset(x, y, teacher_logits=probabilities))


def test_soft_targets_need_a_teacher_or_cached_logits(student, toy_data):
    x, y = toy_data
    distiller = Distiller(student=student, teacher=None, alpha=0.5)
    distiller.compile(optimizer="adam")
    with pytest.raises(ValueError, match="no teacher and the batches carry no cached teacher_logits"):
        distiller.fit(x, y, epochs=1, verbose=0)


def test_misuse_of_models_and_compile_is_explained(student):
    with pytest.raises(ValueError, match="same model object"):
        Distiller(student=student, teacher=student)
    with pytest.raises(ValueError, match="teacher must be a keras.Model"):  # as Keras raises
        Distiller(student=student, teacher=lambda x: x)
    with pytest.raises(ValueError, match="takes no loss"):
        Distiller(student=student).compile(optimizer="adam", loss="mse")




# -- non-finite inputs and negative weights: refused before training, or named when they hide --
def test_a_nan_pixel_is_refused_before_training_wherever_the_arrays_are_seen(teacher, student,
                                                                            toy_data):
    x, y = toy_data
    x = x.copy()
    x[5, 3] = np.nan
    distiller = Distiller(student=student, teacher=teacher)
    distiller.compile("sgd")
    before = [w.copy() for w in student.get_weights()]
    with pytest.raises(ValueError, match="x holds 1 NaN or infinite values"):
        distiller.fit(x, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="x holds 1 NaN"):
        pipeline.make_dataset(x, y)
    logits = compute_teacher_logits(teacher, toy_data[0])
    logits[0, 0] = np.inf
    with pytest.raises(ValueError, match="teacher_logits holds 1 NaN"):
        pipeline.make_dataset(toy_data[0], y, teacher_logits=logits)
    assert all(np.array_equal(a, b) for a, b in zip(before, student.get_weights(), strict=True))


def test_a_nan_pixel_past_the_first_batch_stops_training_naming_the_run(teacher, toy_data):
    # Where the fused MatMul+ReLU maps NaN to 0 going forward, the loss stays finite and only
    # the weights show it: they are checked at the end of every epoch.
    x, y = toy_data
    x = x.copy()
    x[40] = np.nan
    student = tiny_mlp(seed=4)
    distiller = Distiller(student=student, teacher=teacher, run_name="nan-pixel-run")
    distiller.compile("sgd")
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    with pytest.raises(NonFiniteLossError, match="nan-pixel-run"):
        distiller.fit(batches, epochs=2, verbose=0)


def test_nan_in_a_later_validation_batch_stops_training_naming_the_validation_data(teacher,
                                                                                   toy_data):
    x, y = toy_data
    x_val = x.copy()
    x_val[40] = np.nan
    distiller = Distiller(student=tiny_mlp(seed=4), teacher=teacher, run_name="nan-val-run")
    distiller.compile("sgd")
    validation = tf.data.Dataset.from_tensor_slices((x_val, y)).batch(32)
    with pytest.raises(NonFiniteLossError, match="nan-val-run.*validation batch after the first holds NaN"):
        distiller.fit(x, y, validation_data=validation, epochs=1, verbose=0)


@pytest.mark.parametrize("jit_compile", [False, True])  # XLA drops the step's own check
def test_a_negative_weight_in_a_later_batch_stops_training_naming_the_run(teacher, toy_data,
                                                                          jit_compile):
    x, y = toy_data
    weights = np.ones(len(x), "float32")
    weights[40] = -1.0
    distiller = Distiller(student=tiny_mlp(seed=4), teacher=teacher, run_name="negative-run")
    distiller.compile("sgd", jit_compile=jit_compile)
    batches = tf.data.Dataset.from_tensor_slices((x, y, weights)).batch(32)
    with pytest.raises(ValueError, match="negative-run.*batch after the first holds negative"):
        distiller.fit(batches, epochs=1, verbose=0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(sample_weight=-np.ones(96)), "sample_weight must be >= 0"),
    (dict(class_weight={0: 1.0, 1: -1.0}), "class_weight must be >= 0"),
    (dict(class_weight={0: 1.0, 12: 2.0}), r"class_weight keys .* K = 3 logits; got \[12\]"),
    (dict(class_weight={"a": 1.0}), "class_weight keys"),
    (dict(batch_size=0), "batch_size must be a positive integer"),
    (dict(epochs=0), "epochs must be a positive integer"),
    (dict(sample_weight=np.full(96, np.nan)), "sample_weight holds NaN"),
    (dict(sample_weight=np.ones(95)), "sample_weight has 95 weights for 96 examples"),
])
def test_negative_weights_and_a_zero_batch_are_refused(teacher, student, toy_data, kwargs, match):
    x, y = toy_data
    distiller = Distiller(student=student, teacher=teacher)
    distiller.compile("sgd")
    with pytest.raises(ValueError, match=match):
        distiller.fit(x, y, **{"epochs": 1, "verbose": 0, **kwargs})


def test_no_examples_is_refused(teacher, student, toy_data):
    x, y = toy_data
    distiller = Distiller(student=student, teacher=teacher)
    distiller.compile("sgd")
    with pytest.raises(ValueError, match="x holds no examples"):
        distiller.fit(x[:0], y[:0], epochs=1, verbose=0)


@pytest.mark.parametrize("x, pixels, match", [
    (np.zeros((8, 28, 28, 1), "float32"), 14, "jitter_pixels=14 needs images .* at least 29"),
    (np.zeros((8, 20), "float32"), 2, r"jitter_pixels=2 needs images .* shape \(8, 20\)"),
    (np.zeros((8, 28, 28, 1), "float32"), -1, "jitter_pixels must be an integer >= 0"),
])
def test_jitter_that_would_blank_or_cannot_shift_the_inputs_is_refused(x, pixels, match):
    with pytest.raises(ValueError, match=match):
        pipeline.make_dataset(x, np.zeros(8, "int32"), jitter_pixels=pixels)


# -- losses as objects, and the Keras boundary ----------------------------------------------
def test_the_shorthand_is_hinton_kd_and_its_loss_objects_give_the_same_step(teacher, student,
                                                                             toy_data):
    x, y = toy_data
    shorthand = Distiller(student=student, teacher=teacher, temperature=4.0, alpha=0.3)
    assert repr(shorthand.distillation_losses) == "[HintonKD(temperature=4)]"
    explicit = Distiller(student=student, teacher=teacher, losses=[losses.HintonKD(4.0)],
                         alpha=0.3)
    for distiller in (shorthand, explicit):
        distiller.compile("sgd")
    assert shorthand.evaluate(x, y, verbose=0, return_dict=True) == explicit.evaluate(
        x, y, verbose=0, return_dict=True)


def test_several_weighted_losses_add_up_as_documented(teacher, student, toy_data):
    x, y = toy_data
    kd, dkd = losses.HintonKD(2.0), losses.DecoupledKD(4.0)
    distiller = Distiller(student=student, teacher=teacher, losses=[kd, dkd],
                          loss_weights=[0.7, 0.2], alpha=0.25)
    distiller.compile("sgd")
    got = distiller.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)
    t, s = teacher(x, training=False), student(x, training=False)
    soft = 0.7 * float(kd.compute(y, t, s)) + 0.2 * float(dkd.compute(y, t, s))
    hard = float(losses.hard_label_loss(y, s))
    assert got["distillation_loss"] == pytest.approx(soft, rel=1e-5)
    assert got["loss"] == pytest.approx(0.25 * hard + 0.75 * soft, rel=1e-5)
    assert got["total_loss"] == got["loss"]
    assert {"kl_divergence", "tckd", "nckd"} <= set(got)


def test_a_hint_loss_trains_its_projection_with_the_student_and_needs_the_live_teacher(
        teacher, student, toy_data):
    x, y = toy_data
    hint = losses.HintLoss(teacher_layer=teacher.layers[0].name,
                           student_layer=student.layers[0].name)
    distiller = Distiller(student=student, teacher=teacher, losses=[losses.HintonKD(3.0), hint],
                          loss_weights=[1.0, 0.5])
    distiller.compile("sgd")
    distiller.fit(x, y, batch_size=32, epochs=1, verbose=0)
    projection = [w.copy() for w in hint.projection.get_weights()]
    teacher_before = [w.copy() for w in teacher.get_weights()]
    distiller.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert not np.array_equal(projection[0], hint.projection.get_weights()[0])
    assert all(np.array_equal(a, b) for a, b in zip(teacher_before, teacher.get_weights(), strict=True))
    cached = pipeline.with_teacher_logits(x, compute_teacher_logits(teacher, x))
    with pytest.raises(ValueError, match="cannot carry"):
        Distiller(student=student, teacher=teacher, losses=[hint]).fit(cached, y, verbose=0)


def test_label_smoothing_trains_without_a_teacher(student, toy_data):
    x, y = toy_data
    distiller = Distiller(student=student, losses=[losses.LabelSmoothing(0.1)], alpha=0.0)
    distiller.compile("sgd")
    got = distiller.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)
    expected = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(
        tf.one_hot(y, student.output_shape[-1]), student(x))
    assert got["loss"] == pytest.approx(float(expected), rel=1e-5)
    assert "teacher_agreement" not in got
    distiller.fit(x, y, epochs=1, verbose=0)


def test_keras_distillation_keywords_and_losses_run_unchanged(teacher, student, toy_data):
    x, y = toy_data
    distiller = Distiller(
        teacher=teacher, student=student,
        distillation_losses=[keras.distillation.LogitsDistillation(
            temperature=3.0, loss=keras.losses.KLDivergence())],
        distillation_loss_weights=[1.0])
    assert distiller.student_loss_weight == 0.5  # keras.distillation's default
    distiller.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = distiller.fit(x, y, epochs=1, verbose=0).history
    assert {"total_loss", "student_loss", "distillation_loss"} <= set(history)


@pytest.mark.parametrize("call,error,match", [
    (lambda s, t: Distiller(s, t), TypeError, "by keyword"),
    (lambda s, t: Distiller(student=s, teacher=t, temperature=3.0,
                            losses=[losses.HintonKD(3.0)]), ValueError, "its own"),
    (lambda s, t: Distiller(student=s, teacher=t, alpha=0.2, student_loss_weight=0.2),
     ValueError, "not both"),
    (lambda s, t: Distiller(student=s, teacher=t, losses=[losses.HintonKD()],
                            loss_weights=[1.0, 2.0]), ValueError, "one weight per loss"),
    (lambda s, t: Distiller(student=s, teacher=t, losses=[losses.HintonKD()],
                            loss_weights=[-1.0]), ValueError,
     r"loss_weights\[0\] must be a finite number >= 0"),
    (lambda s, t: Distiller(student=s, teacher=keras.Sequential([keras.Input((5,)),
                                                               keras.layers.Dense(3)])),
     ValueError,
     r"takes inputs of shape \(5,\) but student 'student' takes \(8,\)"),
    (lambda s, t: Distiller(student=keras.Model(s.inputs, [s.outputs[0], s.outputs[0]]), teacher=t),
     ValueError, "needs one output of logits"),
    (lambda s, t: Distiller(student=s, teacher=t).compile("adam", alpha=0.1), ValueError,
     "alpha is not a compile argument here: pass alpha"),
    (lambda s, t: Distiller(student=s, teacher=t).compile(
        "adam", student_loss_fn=keras.losses.SparseCategoricalCrossentropy()), ValueError,
     "student_loss_fn is not a compile argument"),
])
def test_calls_from_keras_habits_get_errors_that_say_where_things_go(student, teacher, call,
                                                                     error, match):
    with pytest.raises(error, match=match):
        call(student, teacher)


def test_a_label_out_of_range_past_the_first_batch_is_named_not_a_tensorflow_trace():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((64, NUM_FEATURES)).astype("float32")
    y = np.zeros(64, "int32")
    y[40] = 12  # in the third batch; only the first is checked before training
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    distiller = Distiller(student=tiny_mlp(seed=1), alpha=1.0, run_name="late-label")
    distiller.compile("sgd")
    with pytest.raises(ValueError, match=r"'late-label': a batch after the first holds a label "
                                         r"outside .*Received a label value of 12"):
        distiller.fit(dataset, epochs=1, verbose=0)


@pytest.mark.parametrize("weights", [dict(sample_weight=np.zeros(96)),
                                     dict(class_weight={0: 0.0, 1: 0.0, 2: 0.0})])
def test_weights_that_are_all_zero_are_refused_before_training(weights, student, toy_data):
    x, y = toy_data
    distiller = Distiller(student=student, alpha=1.0)
    distiller.compile("sgd")
    with pytest.raises(ValueError, match="is all zero: no example would count"):
        distiller.fit(x, y, epochs=1, verbose=0, **weights)


def test_a_teacher_no_better_than_chance_is_named_before_training(teacher, student, toy_data):
    x, _ = toy_data
    rng = np.random.default_rng(5)
    # Labels the teacher gets right (as a trained one would), then labels it only guesses.
    taught = np.argmax(teacher.predict(x, verbose=0), axis=-1).astype("int32")
    guessed = rng.permutation(taught).astype("int32")
    guessed[: len(x) // 2] = (taught[: len(x) // 2] + 1) % NUM_CLASSES
    distiller = Distiller(student=student, teacher=teacher, temperature=2.0, alpha=0.5)
    distiller.compile(optimizer="sgd")
    with pytest.warns(UserWarning, match=r"teacher 'teacher' labels \d+% of 96 example inputs "
                                         r"correctly, not detectably above chance"):
        distiller.check_inputs(x, guessed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        distiller.check_inputs(x, taught)
