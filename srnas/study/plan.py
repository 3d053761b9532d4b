"""What a study runs: its architectures (searched, random, hand-designed), the options of each search and run, the
benchmark sets found, and the width-fitted genotypes of the baselines."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

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
    family: str                   # searched | random | hand-designed
    label: str                    # report name: SA, random 2, IMDN
    method: Optional[Method] = None
    source: Optional[str] = None  # hand-designed: its genotype file
    index: int = 0                # random: 0-based draw
    runs: dict[int, dict] = field(default_factory=dict)  # seed -> run record (report)


def plan(opt: StudyOptions) -> list[Arch]:
    """Every architecture of the study, in report order (per space: searched, random, hand-designed)."""
    check_study(opt)
    archs = []
    for s in opt.spaces:
        archs += [Arch(f"{s.space}-{m.name}", s, "searched", m.title, method=m) for m in s.search.methods]
        archs += [Arch(f"{s.space}-random{i + 1}", s, "random", f"random {i + 1}", index=i) for i in range(s.random.n)]
        archs += [Arch(f"{s.space}-{h.name}", s, "hand-designed", h.name, source=h.genotype) for h in baselines(s)]
    return archs


def baselines(s: SpaceStudy) -> tuple[HandDesigned, ...]:
    """The hand-designed rows of a space: ``hand_designed`` as given, else the space's own (its registry entry)."""
    if s.hand_designed is not None:
        return s.hand_designed
    return tuple(HandDesigned(name=n, genotype=g) for n, g in space_spec(s.space).hand_designed)


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
                        experiments_root=root / "searches", device=opt.device, scale=opt.scale,
                        patch={"network_g.num_block": s.num_block}, require={"network_g.type": s.space},
                        why=" for this space", source=f"{s.search.opt} ({arch.id})")


def train_options(opt: StudyOptions, space: SpaceStudy, run: str, seed: int, genotype: Optional[Path], root: Path):
    """The options of one run: the study's train file + overrides, ``network_g`` = the genotype (or, to validate the
    recipe before any genotype exists, the space's default arch), seed ``seed``."""
    from srnas.config.train import TrainOptions

    return load_patched(TrainOptions, opt.train.opt, [*opt.train.set, *space.train_set], name=run,
                        experiments_root=root / "runs", device=opt.device, seed=seed, scale=opt.scale,
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
    from srnas.study.width import fit_width, with_shape

    s = arch.space
    try:
        g = fit_width(with_shape(g, num_block=s.num_block), s.params_budget, opt.scale)
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
            primitives = None
            if s.search.methods:  # draw from the candidates the searches choose from
                primitives = search_options(opt, next(a for a in mine if a.family == "searched"),
                                            root)[0].network_g.primitives
            # uniform over the space at its default width: the width is refitted to the budget afterwards
            drawn = sample_genotypes(s.space, len(randoms), s.random.seed, None, opt.scale, num_block=s.num_block,
                                     primitives=primitives)
            out += [(root / "genotypes" / f"{a.id}.json", fitted(g, a, opt, seed=s.random.seed))
                    for a, g in zip(randoms, drawn)]
        for a in mine:
            if a.family == "hand-designed":
                g = Genotype.load(resolve_path(a.source))
                if g.space != s.space:
                    raise SrnasError(f"{a.source}: a {g.space} genotype, listed under the {s.space} space")
                g = Genotype.make(g.space, g.ops, g.num_feat, g.num_block, g.connections, primitives=g.primitives,
                                  info={"method": "hand-designed", "name": a.label, "source": a.source})
                out.append((root / "genotypes" / f"{a.id}.json", fitted(g, a, opt)))
    return out
