"""What a run needs from earlier runs: its teacher's logits (kept with the teacher's record, or
computed from its model), a trained model (retrained when its record has none, and checked
against that record), and the weights it starts from.

Models are not committed, and training is reproducible only on the machine that ran it. So a
teacher's logits are kept with its record (`teacher_logits.recorded_logits`) and students of
later sessions read those, and a model retrained on another machine must give its record's
numbers, or `Irreproducible` is raised and the record is kept as it was.
"""

from __future__ import annotations

from pathlib import Path

from . import datasets, records
from .config import RunConfig, ensemble_members
from .records import RESULTS_DIR
from .teacher_logits import average_logits, recorded_logits, teacher_logits_for, teacher_logits_path


def get_or_train_model(config: RunConfig, results_dir=RESULTS_DIR, data_dir=None, verbose=1):
    """The trained model of a config: loaded from its record, or trained now (announced).

    Training is deterministic per config on one machine, so retraining a record whose
    `model.keras` is missing (models are not committed) gives back the same weights there; on
    another machine it may not, and then the record is kept as it was and `Irreproducible`
    is raised: train another replicate (`config.replace(replicate=1)`) instead.
    """
    from .runner import run  # runner imports this module

    record = run(config, results_dir=results_dir, data_dir=data_dir, verbose=verbose)
    if record.model is None and not (record.run_dir / "model.keras").exists():
        kept = {name: (record.run_dir / name).read_bytes() for name in ("row.json",
                                                                         "history.csv")}
        retrained = run(config, results_dir=results_dir, data_dir=data_dir, verbose=verbose,
                        force=True, why="retraining (its record has no model.keras)")
        for name, content in kept.items():  # the record stays as it was, times and all
            records.atomic_write_text(record.run_dir / name, content.decode())
        records.write_summary(results_dir)
        same = ("test_errors", "best_epoch", "epochs_trained")
        if any(retrained.row[k] != record.row[k] for k in same):
            (record.run_dir / "model.keras").unlink(missing_ok=True)
            raise Irreproducible(
                f"{config.run_id}: its model is not committed and retraining it here gives "
                f"{', '.join(f'{k} {retrained.row[k]}' for k in same)} where its record says "
                f"{', '.join(str(record.row[k]) for k in same)}; the record is kept. Train "
                "another replicate (config.replace(replicate=1)) instead")
        return retrained.load_model()
    return record.load_model()


class Irreproducible(RuntimeError):
    """A run's model is missing and retraining it on this machine does not give its record."""


def save_teacher_logits(teacher_config: RunConfig, results_dir=RESULTS_DIR,
                        data_dir=None) -> Path:
    """Cache the teacher's logits on its splits under `results/cache/` (training it if needed).

    Returns the path: `<teacher run id>-weights-<hash>-data-<hash>.npz`, with arrays `train`,
    `val` and `test`.
    """
    model = get_or_train_model(teacher_config, results_dir, data_dir, verbose=0)
    splits = datasets.splits_for(teacher_config, data_dir)
    teacher_logits_for(teacher_config, model, splits, results_dir)
    return teacher_logits_path(teacher_config, model, splits, results_dir)


def teacher_of(config: RunConfig, splits, results_dir, data_dir=None, verbose=0):
    """(teacher model or None, its cached (train, val, test) logits or None) for a run: None
    for a run from scratch; an ensemble's averaged logits and no model (trains what is
    missing)."""
    if config.role != "distilled":
        return None, None
    if config.teacher_seeds:  # an ensemble: its members' own cached logits, averaged
        return None, average_logits([_logits_of(member, splits, results_dir, data_dir, verbose)
                                     for member in ensemble_members(config)])
    if not config.jitter_pixels and not config.make_loss().uses_features():
        # cached logits suffice: the ones kept with its record
        return None, _logits_of(config.teacher, splits, results_dir, data_dir, verbose)
    teacher_model = get_or_train_model(config.teacher, results_dir, data_dir, verbose)
    return teacher_model, teacher_logits_for(config.teacher, teacher_model, splits, results_dir)


def _logits_of(teacher: RunConfig, splits, results_dir, data_dir, verbose):
    """A teacher's (train, val, test) logits: kept with its record, else from its model."""
    kept = recorded_logits(teacher, splits, results_dir)
    if kept is not None:
        return kept
    model = get_or_train_model(teacher, results_dir, data_dir, verbose)
    computed = teacher_logits_for(teacher, model, splits, results_dir)
    # the copy just kept with the record, in the precision every other machine reads
    return recorded_logits(teacher, splits, results_dir) or computed


def initial_weights_of(config: RunConfig, results_dir, data_dir=None, verbose=0):
    """The weights a run starts from: its `init_from` run's (trained if missing), else None."""
    if config.init_from is None:
        return None
    return get_or_train_model(config.init_from, results_dir, data_dir, verbose).get_weights()


def keep_teacher_logits(configs, results_dir=RESULTS_DIR, data_dir=None) -> int:
    """Keep with their records the logits of the teachers of `configs` whose models are on this
    machine, on each set of inputs those students train on, where none are kept yet; return how
    many were written. Run it while the models exist: on another machine a teacher without kept
    logits cannot be reproduced (`Irreproducible`)."""
    written, seen = 0, set()
    for config in configs:
        inputs = (config.teacher, config.dataset, config.val_size, config.train_limit,
                  config.transfer_classes)  # what sets a student's splits
        if (config.role != "distilled" or config.jitter_pixels or config.teacher_seeds
                or inputs in seen):
            continue
        seen.add(inputs)
        model = records.run_dir(config.teacher, results_dir) / "model.keras"
        splits = datasets.splits_for(config, data_dir) if model.exists() else None
        if splits is not None and recorded_logits(config.teacher, splits, results_dir) is None:
            teacher_of(config, splits, results_dir, data_dir)
            written += 1
    return written
