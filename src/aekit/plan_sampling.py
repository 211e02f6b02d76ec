"""Floor plans for a footprint the user drew: ``aekit sample RUN --condition-image FILE``.

The drawing is read as ``aekit.footprints`` says; the plans drawn for it are carried back onto the
drawing's own pixels (``UserFootprint.map_back``) and written as indexed PNGs with the plan palette;
``--vector`` adds each plan's rooms, doors and windows as JSON and SVG (``aekit.plan_vectors``),
in the drawing's pixels or, with ``--scale``, in metres.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from aekit import plan_vectors
from aekit.commands.inputs import prepare_out
from aekit.data.floorplan_files import footprint_png, plan_png
from aekit.errors import ConfigError
from aekit.footprints import plan_sheet, read_user_footprint
from aekit.io import StagedFolder
from aekit.models.plan_vae import PlanModel
from aekit.plan_measures import draw_plans
from aekit.priors import Prior


class PlanFiles(Sequence[Path]):
    """What ``sample_plans`` wrote (plans, then the footprint, sheet and vectors when asked for) and
    its notes."""

    def __init__(self, paths: list[Path], notes: list[str], n: int, out: Path):
        self.paths, self.notes, self.n, self.out = paths, notes, n, out

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index):  # type: ignore[override]
        return self.paths[index]

    def describe(self) -> str:
        return "\n".join(
            [*self.notes, f"wrote {self.n} floor plans to {self.out} (indexed PNGs, plan palette)"]
        )


def sample_plans(
    model: PlanModel,
    footprint_file: str | Path | None,
    out: str | Path,
    n: int,
    *,
    seed: int = 0,
    temperature: float = 1.0,
    sheet: bool = False,
    overwrite: bool = False,
    vector: bool = False,
    scale: float | None = None,
    prior: Prior | None = None,
) -> PlanFiles:
    """``aekit sample`` for a floor-plan model: ``n`` plans for the drawn footprint, written as
    ``plan_NNN.png`` at the drawing's size (plus ``footprint.png`` as the model saw it,
    ``sheet.png`` with ``--sheet``, ``plan_NNN.json`` and ``.svg`` with ``--vector``); codes from
    ``prior`` (fitted to the training plans' codes) when given, else from N(0, ``temperature``^2
    I)."""
    if footprint_file is None:
        raise ConfigError(
            f"model {model.name!r} draws plans for a footprint: give --condition-image FILE"
        )
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise ConfigError(f"--scale must be metres per pixel > 0, got {scale}")
    if scale is not None and not vector:
        raise ConfigError("--scale sets the units of --vector: pass --vector too")
    out = Path(out)
    prepare_out(out, [], overwrite)
    user = read_user_footprint(footprint_file, model.input_shape[1])
    drawn = draw_plans(model, user.footprint[None], n, seed, temperature, prior=prior)[0]
    digits = len(str(n - 1))
    paths = []
    with StagedFolder(out) as staged:
        staged.write("footprint.png", footprint_png(user.footprint))
        for k, plan in enumerate(drawn):
            name = f"plan_{k:0{digits}d}"
            full = user.map_back(plan)
            staged.write(f"{name}.png", plan_png(full))
            paths.append(out / f"{name}.png")
            if vector:
                staged.write(
                    f"{name}.json",
                    json.dumps(plan_vectors.plan_vectors(full, scale), indent=1).encode(),
                )
                staged.write(f"{name}.svg", plan_vectors.plan_svg(full, scale, pixel=1.0).encode())
                paths += [out / f"{name}.json", out / f"{name}.svg"]
        paths.append(out / "footprint.png")
        if sheet:
            staged.write("sheet.png", plan_png(plan_sheet(drawn, user.footprint)))
            paths.append(out / "sheet.png")
    source = (
        f"codes from the run's prior '{prior.name}' (fitted to the training plans' codes)"
        if prior is not None
        else "codes from N(0, I)"
        if temperature == 1.0
        else f"codes from N(0, {temperature:g}^2 I)"
    )
    return PlanFiles(paths, [*user.notes, source], n, out)
