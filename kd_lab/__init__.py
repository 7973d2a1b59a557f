"""kd_lab: the lab that turns run configs into run records, tables and verdicts.

- `config` (`RunConfig`, its run id, profiles, knobs) and `main_configs` (the default teacher
  and students); `runner.run(config)`, the one run driver: the teacher first, then the run,
  one record each (`records`, `teacher_logits`, `resume`; `guard` announces what trains).
- Many runs: `sweep` (grids over T, alpha and seeds), trained one by one, as MLP students
  stacked into one model (`stacked_mlp`, `stacking`, `stack_runs`), or as Ray Tune trials
  (`ray_sweep`); every way writes the records `run` writes.
- `stats`, `comparison`, `report`: intervals, Welch and paired tests, Holm's correction,
  verdicts and tables; `notebooks`: executing the notebooks; `__main__`: `python -m kd_lab`.

It imports the library (`kd_utils`) and is never imported by it; the experiments
(`kd_experiments`) import both.
"""
