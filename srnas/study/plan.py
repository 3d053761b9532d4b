"""What a study runs: its architectures (searched, random, hand-designed), the options of each search and run, the
benchmark sets found, and the width-fitted genotypes of the baselines."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from srnas.archs.genotype import Genotype
from srnas.config.patch import load_patched
from srnas.archs.space import space_spec
from srnas.config.study import HandDesigned, Method, SpaceStudy, StudyOptions
from srnas.errors import SrnasError
from srnas.registry import SPACE_SPECS, must_be_one_of
from srnas.utils.experiment import resolve_path


@dataclass
class Arch:
    """One architecture of the study (a row of the report)."""

    id: str                       # "<space>-<name>": folder names
    space: SpaceStudy
    family: str                   # searched | random search | random | hand-designed
    label: str                    # report name: SA s0, random 2, IMDN
    seeds: tuple[int, ...] = ()   # its retraining seeds (one per paired unit)
    group: str = ""               # what the statistics compare: SA, random search, random genotype, IMDN
    method: Optional[Method] = None
    search_seed: Optional[int] = None  # searched / random search: its seed (None: the search file's)
    source: Optional[str] = None  # hand-designed: its genotype file
    index: int = 0                # random: 0-based draw
    runs: dict[int, dict] = field(default_factory=dict)  # seed -> run record (report)


FIXED = {False: "hand-designed", True: "published NAS cell"}  # the family of a fixed (given) genotype


def plan(opt: StudyOptions) -> list[Arch]:
    """Every architecture of the study, in report order (per space: searched, random, hand-designed)."""
    check_study(opt)
    archs, seeds = [], tuple(opt.seeds)
    for s in opt.spaces:
        for m in s.search.methods:
            if s.search.seeds is None:  # one search, retrained with every seed
                archs.append(Arch(f"{s.space}-{m.name}", s, "searched", m.title, seeds, m.title, method=m))
            else:  # search k <-> retraining seed k: one paired unit per search
                archs += [Arch(f"{s.space}-{m.name}-s{k}", s, "searched", f"{m.title} s{k}", (seeds[u],), m.title,
                               method=m, search_seed=k) for u, k in enumerate(s.search.seeds)]
        if s.random_search is not None:
            archs += [Arch(f"{s.space}-rs-s{k}", s, "random search", f"random search s{k}", (seeds[u],),
                           "random search", search_seed=k) for u, k in enumerate(s.random_search.seeds)]
        for i in range(s.random.n):
            mine = seeds if s.random.retrain == "all" else (seeds[i % len(seeds)],)
            archs.append(Arch(f"{s.space}-random{i + 1}", s, "random", f"random {i + 1}", mine, "random genotype",
                              index=i))
        archs += [Arch(f"{s.space}-{h.name}", s, FIXED[h.published_nas], h.name, seeds, h.name, source=h.genotype)
                  for h in baselines(s)]
    return archs


def baselines(s: SpaceStudy) -> tuple[HandDesigned, ...]:
    """The hand-designed rows of a space: ``hand_designed`` as given, else the space's own (its registry entry)."""
    if s.hand_designed is not None:
        return s.hand_designed
    spec = space_spec(s.space)
    return tuple(HandDesigned(name=n, genotype=g, published_nas=n in spec.published_nas) for n, g in spec.hand_designed)


def check_study(opt: StudyOptions) -> None:
    """What the option loader cannot check without the registries: every space is registered, and its row names
    (methods, hand-designed) are distinct and leave ``random*`` to the random genotypes."""
    for i, s in enumerate(opt.spaces):
        if s.space not in SPACE_SPECS:
            raise must_be_one_of(f"spaces[{i}].space", s.space, SPACE_SPECS.keys())
        names = [m.name for m in s.search.methods] + [h.name for h in baselines(s)]
        if len({n.lower() for n in names}) != len(names):
            raise SrnasError(f"spaces[{i}]: method and hand-designed names must be distinct, got {names}")
        if s.random.n and any(n.lower().startswith("random") for n in names):
            raise SrnasError(f"spaces[{i}]: names starting with 'random' are the random genotypes' ({names})")


def search_options(opt: StudyOptions, arch: Arch, root: Path):
    """The search options of a searched ``arch``: the space's base file + its overrides + the method's, run under
    ``root/searches/<arch>`` at the study's scale, depth (and device)."""
    from srnas.config.search import SearchOptions

    s, m = arch.space, arch.method
    return load_patched(SearchOptions, s.search.opt, [*s.search.set, *m.set], name=arch.id,
                        experiments_root=root / "searches", device=opt.device, scale=opt.scale, seed=arch.search_seed,
                        patch={} if s.search.keep_depth else {"network_g.num_block": s.num_block},
                        require={"network_g.type": s.space}, why=" for this space",
                        source=f"{s.search.opt} ({arch.id})")


def train_options(opt: StudyOptions, space: SpaceStudy, run: str, seed: int, genotype: Optional[Path], root: Path,
                  extra: Sequence[str] = (), folder: str = "runs"):
    """The options of one run: the study's train file + overrides (+ ``extra``), ``network_g`` = the genotype (or, to
    validate the recipe before any genotype exists, the space's default arch), seed ``seed``, under
    ``root/folder/run``."""
    from srnas.config.train import TrainOptions

    return load_patched(TrainOptions, opt.train.opt, [*opt.train.set, *space.train_set, *extra], name=run,
                        experiments_root=root / folder, device=opt.device, seed=seed, scale=opt.scale,
                        network_g={"genotype": str(genotype)} if genotype is not None else {"type": space.space},
                        source=f"{opt.train.opt} ({run})")


def resolve_sets(opt: StudyOptions) -> tuple[dict[str, Path], list[str]]:
    """``({set: root}, [missing sets])``: each set from ``bench.data_root`` or else the first fallback root."""
    roots = [resolve_path(r) for r in (opt.bench.data_root, *opt.bench.fallback_roots)]
    found, missing = {}, []
    for name in opt.bench.datasets:
        root = next((r for r in roots if (r / name / "HR").is_dir()), None)
        if root is None:
            missing.append(name)
        else:
            found[name] = root
    return found, missing


def fitted(g: Genotype, arch: Arch, opt: StudyOptions, **info: Any) -> Genotype:
    """``g`` at the depth and the widest width within ``arch``'s space budget, its study row noted in its info."""
    from srnas.study.width import fit_shape, fit_width, with_shape

    s = arch.space
    try:
        g = with_shape(g, num_block=s.num_block)
        g = fit_width(g, s.params_budget, opt.scale) if s.params_tolerance is None else \
            fit_shape(g, s.params_budget, s.params_tolerance, s.num_block_range, opt.scale)
    except SrnasError as e:
        raise SrnasError(f"spaces[{opt.spaces.index(s)}].params_budget ({arch.id}): {e}") from None
    study = {"arch": arch.id, "family": arch.family, "label": arch.label, **info}
    return Genotype.make(g.space, g.ops, g.num_feat, g.num_block, g.connections, scale=opt.scale,
                         primitives=g.primitives, info={**g.info, "study": study})


def baseline_genotypes(opt: StudyOptions, archs: list[Arch], root: Path) -> list[tuple[Path, Genotype]]:
    """The random and hand-designed genotypes, width-fitted, with their files (cheap: computed on every call and
    checked against the files written by an earlier one)."""
    from srnas.study.sample import sample_genotypes

    out = []
    for s in opt.spaces:
        mine = [a for a in archs if a.space is s]
        randoms = [a for a in mine if a.family == "random"]
        if randoms:
            drawn = fitted_draws(opt, randoms[0], s.random.seed, primitives_of(opt, s, root))
            out += [(root / "genotypes" / f"{a.id}.json", Genotype.make(
                g.space, g.ops, g.num_feat, g.num_block, g.connections, scale=g.scale, primitives=g.primitives,
                info={**g.info, "study": {**g.info["study"], "arch": a.id, "label": a.label}}))
                for a, (_, g) in zip(randoms, drawn)]
        for a in mine:
            if a.family in FIXED.values():
                g = Genotype.load(resolve_path(a.source))
                if g.space != s.space:
                    raise SrnasError(f"{a.source}: a {g.space} genotype, listed under the {s.space} space")
                g = Genotype.make(g.space, g.ops, g.num_feat, g.num_block, g.connections, primitives=g.primitives,
                                  info={"method": a.family, "name": a.label, "source": a.source})
                out.append((root / "genotypes" / f"{a.id}.json", fitted(g, a, opt)))
    return out


def primitives_of(opt: StudyOptions, s: SpaceStudy, root: Path) -> Optional[tuple[str, ...]]:
    """The candidates random genotypes are drawn from: the searches' (None: the space's own)."""
    searched = [a for a in plan(opt) if a.space.space == s.space and a.family == "searched"]
    p = search_options(opt, searched[0], root)[0].network_g.primitives if searched else None
    return tuple(p) if p else None


def fitted_draws(opt: StudyOptions, arch: Arch, seed: int, primitives: Optional[Sequence[str]],
                 limit: int = 2000) -> Iterator[tuple[int, Genotype]]:
    """Uniform draws (``seed``, without replacement) fitted to ``arch``'s space budget, in draw order, as
    ``(draw index, genotype)``; a draw whose params cannot be fitted within the tolerance is skipped (rejection:
    uniform over the fittable genotypes; the index counts the skipped ones)."""
    from srnas.study.sample import sample_genotypes

    s = arch.space
    for i, g in enumerate(sample_genotypes(s.space, limit, seed, None, opt.scale, num_block=s.num_block,
                                           primitives=primitives)):
        try:  # uniform over the space at its default width: the width is refitted to the budget
            yield i, fitted(g, arch, opt, seed=seed, draw=i)
        except SrnasError:
            continue
