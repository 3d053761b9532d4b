"""``srnas study``: does the search earn its cost? Searched vs random vs hand-designed networks, one recipe.

For every space of the option file: one search per method (DARTS, SA, SAC, ...), ``random.n`` uniform random
genotypes and the hand-designed ones (IMDN all conv3, the released DLSR genotype) are each refitted to the space's
parameter budget (:func:`srnas.study.width.fit_width`), retrained with the identical recipe, iterations and seeds,
and benchmarked. Layout under ``<experiments_root>/<name>/``::

    searches/<arch>/            one search experiment per method and search seed (srnas search, or a reused one)
    random_search/<arch>/       random search at the cost of one search (candidates.jsonl, winner.json)
    genotypes/<arch>.json       every architecture at its fitted width (and depth)
    runs/<arch>_seed<k>[_retry<j>]/  one training per architecture and unit, with report.json (srnas bench); a
                                failed training is retried with seed k + 1000 j
    runs_long/<arch>_seed<k>/   the rank-stability twins (stability.factor times longer)
    bicubic.json                bicubic PSNR of the benchmarked images (the failure threshold)
    stages.json                 wall and CPU time of every stage and of every call
    study.json, study.md, study.png

Every search, run and benchmark is skipped when its output exists; a half-done search or run resumes from its
checkpoint. Spaces go one after the other (searches, then runs seed by seed: every architecture of seed 0 first), so
a stopped study has finished its first spaces and compared every architecture of the next on its first seeds.

Modules: ``plan`` (the architectures and the options of each search and run), ``width`` (fit to the params budget),
``random_search`` (random search at the cost of one search), ``run`` (the stages), ``stats`` (units, failed
trainings, paired differences with bootstrap intervals, verdicts, Kendall tau), ``report`` and ``markdown``
(study.json, study.md, study.png).
"""
from srnas.study.plan import Arch, baseline_genotypes, plan, resolve_sets, search_options, train_options
from srnas.study.report import FAIRNESS, write_study_report
from srnas.study.run import run_study
from srnas.study.stats import bootstrap_interval, kendall_tau, paired, verdict

__all__ = ["Arch", "FAIRNESS", "baseline_genotypes", "bootstrap_interval", "kendall_tau", "paired", "plan",
           "resolve_sets", "run_study", "search_options", "train_options", "verdict", "write_study_report"]
