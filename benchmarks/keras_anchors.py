"""Two defects of this lab's anchors that a Keras user meets, measured on MNIST in one run.

    python benchmarks/keras_anchors.py        # about 2 minutes on 2 cores

1. `keras.distillation.LogitsDistillation(temperature)` with its default loss
   (`"kl_divergence"`, a string) applies Keras' `kl_divergence` function to the scaled logits:
   no softmax and no T^2 (Keras 3.15 takes the softmax-and-T^2 branch only for a
   `keras.losses.KLDivergence` instance). Printed: that loss and T^2 * KL on one batch of a
   trained teacher and a fresh student, and the test accuracy of students distilled for one
   epoch with each (`student_loss_weight` 0.1, T = 20).
2. The keras-io example's Keras 3 Distiller keeps the teacher as a trainable attribute and
   calls it inside the loss, so `fit` trains the teacher too. Printed: the teacher's test
   accuracy before and after one epoch of that distillation (its `training=False` stops
   dropout, not gradients).

The teacher is the lab's 784-1200-1200-10 trained here for 3 epochs on 20,000 images (about
a minute); rows go to `results/benchmarks.csv` (setup `keras_anchors: ...`). Not a test.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
OWNER = "keras_anchors"
TEMPERATURE = 20.0


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    from distillation_speed import keras_example_distiller
    from stacking_speed import write_rows

    from kd_lab import registry
    from kd_utils import Distiller, data, losses

    splits = data.load("mnist").limit_train(20000)
    x, y, x_test, y_test = splits.x_train, splits.y_train, splits.x_test, splits.y_test

    def fresh(architecture, seed):
        keras.utils.set_random_seed(seed)
        return registry.build(architecture, splits.input_shape, 10)

    def accuracy(model):
        return float((model.predict(x_test, batch_size=1024, verbose=0).argmax(-1)
                      == y_test).mean())

    teacher = fresh("hinton_teacher", 0)
    trainer = Distiller(student=teacher, alpha=1.0)
    trainer.compile("adam")
    trainer.fit(x, y, batch_size=128, epochs=3, verbose=0)
    teacher_accuracy = accuracy(teacher)

    # 1. the default loss on one batch, and students distilled with each loss
    batch_teacher = teacher(x[:256], training=False)
    batch_student = fresh("mlp:800,800", 1)(x[:256], training=False)
    default = keras.distillation.LogitsDistillation(temperature=TEMPERATURE)
    default_value = float(default.compute_loss(batch_teacher, batch_student))
    hinton_value = float(losses.HintonKD(TEMPERATURE).compute(None, batch_teacher,
                                                               batch_student))
    students = {}
    for name, loss in (("default 'kl_divergence'", "kl_divergence"),
                       ("keras.losses.KLDivergence()", keras.losses.KLDivergence())):
        distiller = keras.distillation.Distiller(
            teacher=teacher, student=fresh("mlp:800,800", 1), student_loss_weight=0.1,
            distillation_losses=keras.distillation.LogitsDistillation(TEMPERATURE, loss=loss))
        distiller.compile("adam", loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True))
        distiller.fit(x, y, batch_size=128, epochs=1, verbose=0)
        students[name] = accuracy(distiller.student)

    # 2. the keras-io example trains its teacher
    before = [w.copy() for w in teacher.get_weights()]
    teacher.trainable = True  # as the example leaves it: nothing in it freezes the teacher
    example = keras_example_distiller(keras, None)(fresh("mlp:800,800", 1), teacher)
    example.compile(optimizer=keras.optimizers.Adam(), metrics=["accuracy"],
                    student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    distillation_loss_fn=keras.losses.KLDivergence(), alpha=0.1,
                    temperature=TEMPERATURE)
    example.fit(x, y, batch_size=128, epochs=1, verbose=0)
    changed = sum(not np.array_equal(a, b)
                  for a, b in zip(before, teacher.get_weights(), strict=True))
    after = accuracy(teacher)

    print(f"LogitsDistillation default loss on one batch: {default_value:.2f}; "
          f"T^2 * KL: {hinton_value:.2f}")
    for name, value in students.items():
        print(f"student distilled one epoch with {name}: test accuracy {value:.3f}")
    print(f"keras-io example: teacher test accuracy {teacher_accuracy:.3f} before, {after:.3f} "
          f"after one epoch of distillation ({changed} of {len(before)} weight arrays changed)")
    rows = [
        {"measure": "LogitsDistillation default loss, one batch", "kind": "loss",
         "value": default_value},
        {"measure": "T^2 * KL, same batch", "kind": "loss", "value": hinton_value},
        *({"measure": f"student distilled 1 epoch, LogitsDistillation {name}",
           "kind": "test_accuracy", "value": value} for name, value in students.items()),
        {"measure": "keras-io example: teacher before distillation", "kind": "test_accuracy",
         "value": teacher_accuracy},
        {"measure": "keras-io example: teacher after 1 epoch of distillation",
         "kind": "test_accuracy", "value": after},
    ]
    write_rows(rows, REPO / "results" / "benchmarks.csv",
               f"{OWNER}: MNIST 20000 training images, batch 128, teacher hinton_teacher "
               f"(3 epochs), student mlp:800,800, T = {TEMPERATURE:g}", owner=OWNER)


if __name__ == "__main__":
    main()
