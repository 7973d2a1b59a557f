"""Experiments built on the library and the lab: the paper's and public repositories' recipes,
one module per paper or repository, each holding its recipes and registering its own models.

- `hinton2015`, `hinton2015_transfer`, `hinton2015_ensemble`, `hinton2015_readme`: Hinton,
  Vinyals & Dean (2015), section 3 on MNIST, and the README's "paper vs ours".
- `dark_knowledge`: the strong teachers, the controls of notebook 19 and every run of the
  lab's MNIST tables on those teachers, stage by stage, in the background.
- `tsitsimis`, `sai_srinivasan`, `rohin_dasari`, `johnkorn`, `pratt2762`: one public KD
  repository each, its claims re-run as published and corrected; `claims` holds what they
  share (`results/seed_reproductions.csv`).

Neither the library (`kd_utils`) nor the lab (`kd_lab`) imports from here:
`tests/test_layers.py` checks every import.
"""
