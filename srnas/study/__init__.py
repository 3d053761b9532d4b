"""``srnas study``: does the search earn its cost? Searched vs random vs hand-designed networks, one recipe.

For every space of the option file: one search per method (DARTS, SA, SAC, ...), ``random.n`` uniform random
genotypes and the hand-designed ones (IMDN all conv3, the released DLSR genotype) are each refitted to the space's
parameter budget (:func:`srnas.study.width.fit_width`), retrained with the identical recipe, iterations and seeds,
and benchmarked. Layout under ``<experiments_root>/<name>/``::

    searches/<arch>/            one search experiment per method (srnas search)
    genotypes/<arch>.json       every architecture at its fitted width
    runs/<arch>_seed<k>/        one training experiment per architecture and seed, with report.json (srnas bench)
    stages.json                 wall time of every stage and of every call
    study.json, study.md, study.png

Every search, run and benchmark is skipped when its output exists; a half-done search or run resumes from its
checkpoint. Spaces go one after the other (searches, then runs seed by seed: every architecture of seed 0 first), so
a stopped study has finished its first spaces and compared every architecture of the next on its first seeds.

Modules: ``plan`` (the architectures and the options of each search and run), ``run`` (the stages), ``stats``
(per-seed results, paired differences, verdicts), ``report`` (study.json, study.md, study.png).
"""
from srnas.study.plan import Arch, baseline_genotypes, plan, resolve_sets, search_options, train_options
from srnas.study.report import FAIRNESS, write_study_report
from srnas.study.run import run_study
from srnas.study.stats import paired_difference, verdict

__all__ = ["Arch", "FAIRNESS", "baseline_genotypes", "paired_difference", "plan", "resolve_sets", "run_study",
           "search_options", "train_options", "verdict", "write_study_report"]
