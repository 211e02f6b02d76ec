"""Scanned document pages paired with clean versions (Kaggle "Denoising Dirty Documents" layout).

A folder holds ``train/`` (noisy pages), ``train_cleaned/`` (same file names, clean), ``test/``
and optionally ``test_cleaned/``. Pages keep their full resolution: training draws aligned
random patches (``PageSet.random_patches``), inference runs on whole pages.

The Kaggle set reuses each clean page under several kinds of dirt, so pages are grouped by the
content of their clean page and every split keeps a group on one side; otherwise a test page's
text would have been seen in training. Without ``test_cleaned/`` the splits ``train``/``test``
are a fixed seeded grouped split of the paired train pages and ``kaggle-test`` is the unpaired
``test/`` folder (``clean`` is None).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from aekit.data.decode import read_image
from aekit.data.folder import IMAGE_EXTENSIONS
from aekit.data.synthetic_documents import ensure_synthetic_documents
from aekit.errors import DataError

TEST_FRACTION = 0.2
SPLIT_SEED = 0
CONTRAST_JITTER = 0.1  # augmentation: noisy patches scaled by 1 +- this
BRIGHTNESS_JITTER = 0.05  # and shifted by +- this
FADE_LOW = 0.4  # and with ``fade_share``, faded ink keeps 40-100% of its contrast to the paper
# px around an ink pixel where its paper is found (wider than the Kaggle pages' strokes)
FADE_WINDOW = 7
# Generated pages mixed into training (``synthetic_share``): A4 in 9-12 pt at 150 dpi has a line
# pitch of
# 22-36 px, the Kaggle pages' range (22.9-37.3 px), so they look like a 300 dpi scan brought to the
# training size.
SYNTHETIC_MIX_DPI, SYNTHETIC_MIX_PAGES = 150, 30
# ``enlarge``: kernels a patch pair is enlarged with, one drawn per pair (several, so that the
# cleaner
# does not learn one kernel's blur: scanners and viewers resample differently), and the share of
# pairs
# kept at their own size (the pages' own size holds the smallest, hardest strokes and the 1x
# target).
ENLARGE_KERNELS = (
    Image.Resampling.BILINEAR,
    Image.Resampling.BICUBIC,
    Image.Resampling.LANCZOS,
    Image.Resampling.HAMMING,
)
UNENLARGED_SHARE = 1 / 3


@dataclass
class PageSet:
    """Full-size pages: ``noisy`` (and ``clean``) lists of ``1 x H x W`` float tensors in [0, 1].

    ``groups[i]`` is shared by pages whose clean page is identical; splits never cut a group.
    ``texts``: each page's true text, where a ``.txt`` lies beside every clean page (synthetic
    pages made at a resolution), for judging cleaned pages by what OCR reads.
    """

    noisy: list[torch.Tensor]
    clean: list[torch.Tensor] | None
    names: list[str]
    groups: list[int]
    source: str
    name: str = "documents"
    texts: list[str] | None = None

    def __len__(self) -> int:
        return len(self.noisy)

    def head(self, n: int) -> PageSet:
        """The first ``n`` items (all of them when there are fewer)."""
        return self.subset(list(range(min(n, len(self)))))

    def subset(self, indices: Sequence[int]) -> PageSet:
        idx = [int(i) for i in indices]
        return PageSet(
            noisy=[self.noisy[i] for i in idx],
            clean=None if self.clean is None else [self.clean[i] for i in idx],
            names=[self.names[i] for i in idx],
            groups=[self.groups[i] for i in idx],
            source=self.source,
            name=self.name,
            texts=None if self.texts is None else [self.texts[i] for i in idx],
        )

    def random_patches(
        self,
        n: int,
        size: int,
        generator: torch.Generator | None = None,
        augment: bool = False,
        fade_share: float = 0.0,
        enlarge: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` aligned ``(noisy, clean)`` patches ``n x 1 x size x size``, uniform over page area.

        ``augment``: each pair also gets one of the 8 flips/quarter turns (the same for noisy and
        clean, so they stay aligned) and the noisy patch a random contrast and brightness
        (``noisy * gain + shift``, clamped; the clean target stays as it is: the same page scanned
        lighter or darker has the same clean text). The positions drawn are the same with or
        without it. A page smaller than ``size`` in either side is an error (no padding: padded
        borders would teach the model an edge that no real page has); pick a smaller patch size.

        ``enlarge`` > 1: each pair is cut ``size / f`` px wide and enlarged to ``size`` (noisy and
        clean alike, one kernel of ENLARGE_KERNELS), ``f`` drawn log-uniformly from 1 to ``enlarge``
        for all but UNENLARGED_SHARE of the pairs: the page as scanned at up to ``enlarge`` times
        its resolution, so that one cleaner knows text of any size in that range.
        """
        if self.clean is None:
            raise DataError("these pages have no clean targets to pair patches with", self.source)
        if not self.noisy:
            raise DataError("no pages to draw patches from", self.source)
        heights = torch.tensor([p.shape[-2] for p in self.noisy])
        widths = torch.tensor([p.shape[-1] for p in self.noisy])
        small = torch.nonzero((heights < size) | (widths < size)).flatten()
        if len(small):
            i = int(small[0])
            raise DataError(
                f"page {self.names[i]} is {int(widths[i])}x{int(heights[i])} px, smaller than "
                f"the patch size {size}",
                self.source,
            )
        spans_y, spans_x = heights - size + 1, widths - size + 1
        pages = torch.multinomial(
            (spans_y * spans_x).double(), n, replacement=True, generator=generator
        )
        crops, kernels = crop_sizes(n, size, enlarge, generator)  # no draws at enlarge 1
        ys = (torch.rand(n, generator=generator) * (heights[pages] - crops + 1)).long()
        xs = (torch.rand(n, generator=generator) * (widths[pages] - crops + 1)).long()
        noisy, clean = [], []
        draws = zip(pages.tolist(), ys.tolist(), xs.tolist(), crops.tolist(), kernels.tolist())
        for page, y, x, crop, kernel in draws:
            pair = [side[page][:, y : y + crop, x : x + crop] for side in (self.noisy, self.clean)]
            if crop != size:
                pair = [enlarge_patch(p, size, ENLARGE_KERNELS[kernel]) for p in pair]
            noisy.append(pair[0])
            clean.append(pair[1])
        noisy_batch, clean_batch = torch.stack(noisy), torch.stack(clean)
        if augment:
            noisy_batch, clean_batch = augment_pairs(
                noisy_batch, clean_batch, generator, fade_share
            )
        return noisy_batch, clean_batch


def crop_sizes(
    n: int, size: int, enlarge: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Side of each of ``n`` crops enlarged to ``size`` (see ``PageSet.random_patches``) and the
    index of its kernel in ENLARGE_KERNELS; all ``size`` (no draws) when ``enlarge`` is 1."""
    if enlarge == 1:
        return torch.full((n,), size), torch.zeros(n, dtype=torch.long)
    factors = torch.exp(torch.rand(n, generator=generator) * math.log(enlarge))
    factors[torch.rand(n, generator=generator) < UNENLARGED_SHARE] = 1.0
    kernels = torch.randint(0, len(ENLARGE_KERNELS), (n,), generator=generator)
    return (size / factors).round().long().clamp(1, size), kernels


def enlarge_patch(patch: torch.Tensor, size: int, kernel: Image.Resampling) -> torch.Tensor:
    """A ``1 x c x c`` patch resampled to ``1 x size x size`` with PIL's ``kernel``, clipped to [0,
    1]."""
    picture = Image.fromarray(patch[0].float().numpy(), "F").resize((size, size), kernel)
    return torch.from_numpy(np.asarray(picture, dtype=np.float32).clip(0.0, 1.0))[None]


def mixed_patches(
    pages: PageSet,
    synthetic: PageSet | None,
    share: float,
    n: int,
    size: int,
    generator: torch.Generator | None = None,
    augment: bool = False,
    fade_share: float = 0.0,
    enlarge: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` patch pairs (``PageSet.random_patches``), ``round(n * share)`` of them from
    ``synthetic`` and the rest from ``pages``, real first (the trainer shuffles each epoch). Without
    synthetic pages the same patches as ``pages.random_patches``."""
    from_synthetic = 0 if synthetic is None else round(n * share)
    noisy, clean = pages.random_patches(
        n - from_synthetic, size, generator, augment, fade_share, enlarge
    )
    if not from_synthetic:
        return noisy, clean
    more_noisy, more_clean = synthetic.random_patches(
        from_synthetic, size, generator, augment, fade_share, enlarge
    )
    return torch.cat([noisy, more_noisy]), torch.cat([clean, more_clean])


def synthetic_mix(share: float) -> PageSet | None:
    """The generated pages ``synthetic_share`` mixes in (their train split; made once, cached), None
    at 0."""
    if share == 0:
        return None
    folder = ensure_synthetic_documents(SYNTHETIC_MIX_PAGES, dpi=SYNTHETIC_MIX_DPI)
    return load_pages(folder, "train", f"documents-synthetic-{SYNTHETIC_MIX_DPI}dpi")


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """Transform ``k`` (0-7) of the square's symmetry group on the last two axes: bit 0 flips
    left-right, bit 1 flips up-down, bit 2 transposes (with the flips: the quarter turns)."""
    if k & 1:
        x = x.flip(-1)
    if k & 2:
        x = x.flip(-2)
    return x.transpose(-1, -2) if k & 4 else x


def augment_pairs(
    noisy: torch.Tensor,
    clean: torch.Tensor,
    generator: torch.Generator | None = None,
    fade_share: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Square ``B x 1 x S x S`` pairs with a random symmetry each (shared) and a random contrast
    and brightness on the noisy side only (see ``PageSet.random_patches``). A ``fade_share`` of the
    noisy patches also have faded ink: each ink pixel (dark on the clean page) moved towards the
    paper around it (``fade_ink``), as worn toner and light print do, which the Kaggle pages hold
    too few of (a cleaner trained without it erased the faint lines of a faded 300 dpi page). Stains
    stay as they are, so faint ink and light stains are not confused."""
    n = noisy.shape[0]
    turns = torch.randint(0, 8, (n,), generator=generator)
    gains = 1.0 + (2 * torch.rand(n, generator=generator) - 1) * CONTRAST_JITTER
    shifts = (2 * torch.rand(n, generator=generator) - 1) * BRIGHTNESS_JITTER
    if fade_share > 0:  # no draws otherwise: the same patches as without the option
        faded = torch.rand(n, generator=generator) < fade_share
        kept = torch.where(
            faded, FADE_LOW + (1 - FADE_LOW) * torch.rand(n, generator=generator), torch.ones(n)
        )
        noisy = fade_ink(noisy, clean, kept)
    noisy = torch.stack([dihedral(p, int(k)) for p, k in zip(noisy, turns)])
    clean = torch.stack([dihedral(p, int(k)) for p, k in zip(clean, turns)])
    noisy = (noisy * gains.view(-1, 1, 1, 1) + shifts.view(-1, 1, 1, 1)).clamp_(0.0, 1.0)
    return noisy, clean


def fade_ink(noisy: torch.Tensor, clean: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """``B x 1 x H x W`` noisy patches whose ink keeps ``kept[b]`` of its contrast to the paper
    around it (the brightest pixel within FADE_WINDOW); where the clean page is white nothing
    moves."""
    paper = F.max_pool2d(noisy, FADE_WINDOW, stride=1, padding=FADE_WINDOW // 2)
    ink = 1.0 - clean
    return noisy + (1.0 - kept.view(-1, 1, 1, 1)) * ink * (paper - noisy)


def natural_key(name: str) -> list[int | str]:
    """Sort key putting ``2.png`` before ``10.png``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def page_files(folder: Path) -> list[Path]:
    """The page images of ``folder``, naturally sorted; any other visible file is an error."""
    if not folder.is_dir():
        raise DataError("page folder not found", folder)
    files = []
    for path in folder.iterdir():
        if path.name.startswith(".") or path.is_dir():
            continue
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            raise DataError(f"not an image file (expected {', '.join(IMAGE_EXTENSIONS)})", path)
        files.append(path)
    if not files:
        raise DataError("no page images found", folder)
    return sorted(files, key=lambda p: natural_key(p.name))


def read_page(path: Path) -> torch.Tensor:
    pixels = read_image(path, 1, None)
    # 16-bit pages decode to a read-only view of Pillow's buffer; a tensor over it must not be
    # written
    return torch.from_numpy(pixels if pixels.flags.writeable else pixels.copy())


MAX_TEXT_BYTES = 1 << 20


def read_texts(clean_dir: Path, names: Sequence[str]) -> list[str] | None:
    """The true text of every page (``NAME.txt`` beside its clean page), or None unless all have
    one."""
    paths = [clean_dir / Path(name).with_suffix(".txt") for name in names]
    if not paths or not all(p.is_file() for p in paths):
        return None
    texts = []
    for path in paths:
        if path.stat().st_size > MAX_TEXT_BYTES:
            raise DataError(f"text file is larger than {MAX_TEXT_BYTES} bytes", path)
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read the page's text ({exc})", path) from None
    return texts


def read_pairs(
    noisy_dir: Path, clean_dir: Path
) -> tuple[list[torch.Tensor], list[torch.Tensor], list[str]]:
    """Every noisy page with its same-named clean partner (same size required)."""
    if not clean_dir.is_dir():
        raise DataError(
            f"clean page folder not found (needed to pair {noisy_dir.name}/)", clean_dir
        )
    noisy, clean, names = [], [], []
    for path in page_files(noisy_dir):
        partner = clean_dir / path.name
        if not partner.is_file():
            raise DataError(f"noisy page has no clean partner {clean_dir.name}/{path.name}", path)
        page, target = read_page(path), read_page(partner)
        if page.shape != target.shape:
            raise DataError(
                f"page is {page.shape[-1]}x{page.shape[-2]} px but its clean partner {partner} is "
                f"{target.shape[-1]}x{target.shape[-2]} px",
                path,
            )
        noisy.append(page)
        clean.append(target)
        names.append(path.name)
    return noisy, clean, names


def content_groups(pages: Sequence[torch.Tensor]) -> list[int]:
    """Group ids by identical pixel content, numbered in order of first appearance."""
    ids: dict[bytes, int] = {}
    groups = []
    for page in pages:
        digest = hashlib.sha1(
            np.ascontiguousarray(page.numpy()).tobytes() + str(tuple(page.shape)).encode()
        ).digest()
        groups.append(ids.setdefault(digest, len(ids)))
    return groups


def grouped_split(
    groups: Sequence[int], fraction: float, seed: int, where: str | Path | None = None
) -> tuple[list[int], list[int]]:
    """Indices ``(kept, held_out)``: about ``fraction`` of the groups, whole, go to ``held_out``."""
    distinct = sorted(set(groups))
    if len(distinct) < 2:
        raise DataError(
            f"needs at least 2 distinct clean pages to split, found {len(distinct)}", where
        )
    n_out = min(len(distinct) - 1, max(1, round(fraction * len(distinct))))
    order = np.random.default_rng(seed).permutation(len(distinct))
    out = {distinct[i] for i in order[:n_out]}
    kept = [i for i, g in enumerate(groups) if g not in out]
    held = [i for i, g in enumerate(groups) if g in out]
    return kept, held


def grouped_folds(
    groups: Sequence[int], folds: int, seed: int = SPLIT_SEED, where: str | Path | None = None
) -> list[list[int]]:
    """Indices of each of ``folds`` test folds for grouped cross-validation: the distinct groups,
    in a seeded random order, are dealt round-robin, so every page is in exactly one fold and a
    group never straddles two."""
    distinct = sorted(set(groups))
    if folds < 2 or len(distinct) < folds:
        raise DataError(
            f"{folds}-fold cross-validation needs at least 2 folds and as many distinct clean "
            "pages "
            f"as folds; found {len(distinct)}",
            where,
        )
    order = np.random.default_rng(seed).permutation(len(distinct))
    fold_of = {distinct[j]: i % folds for i, j in enumerate(order)}
    return [[i for i, g in enumerate(groups) if fold_of[g] == k] for k in range(folds)]


def load_pages(
    root: Path, split: str, name: str = "documents", fold: int | None = None, folds: int = 4
) -> PageSet:
    """One split of a documents folder (see the module docstring for the layouts).

    With ``fold`` (0 to ``folds - 1``) the paired ``train/`` pages are cut into ``folds`` grouped
    folds instead (``grouped_folds``): ``test`` is fold ``fold``, ``train`` the other folds."""
    root = Path(root)
    if not root.is_dir():
        raise DataError("documents folder not found", root)
    if fold is not None:
        if split not in ("train", "test"):
            raise DataError(
                f"unknown split {split!r} for a cross-validation fold (train or test)", root
            )
        if not 0 <= fold < folds:
            raise DataError(
                f"fold {fold} does not exist in {folds}-fold cross-validation (0 to {folds - 1})",
                root,
            )
        noisy, clean, names = read_pairs(root / "train", root / "train_cleaned")
        pages = PageSet(noisy, clean, names, content_groups(clean), str(root / "train"), name)
        held = grouped_folds(pages.groups, folds, SPLIT_SEED, root / "train")[fold]
        kept = sorted(set(range(len(pages))) - set(held))
        return pages.subset(kept if split == "train" else held)
    paired_test = (root / "test_cleaned").is_dir()
    splits = ("train", "test") if paired_test else ("train", "test", "kaggle-test")
    if split not in splits:
        raise DataError(
            f"unknown split {split!r} for this documents folder ({', '.join(splits)})", root
        )
    if split == "kaggle-test":
        files = page_files(root / "test")
        pages = [read_page(p) for p in files]
        return PageSet(
            pages, None, [p.name for p in files], list(range(len(files))), str(root / "test"), name
        )
    if paired_test:
        folder = "train" if split == "train" else "test"
        noisy, clean, names = read_pairs(root / folder, root / f"{folder}_cleaned")
        texts = read_texts(root / f"{folder}_cleaned", names)
        return PageSet(noisy, clean, names, content_groups(clean), str(root / folder), name, texts)
    noisy, clean, names = read_pairs(root / "train", root / "train_cleaned")
    groups = content_groups(clean)
    kept, held = grouped_split(groups, TEST_FRACTION, SPLIT_SEED, root / "train")
    pages = PageSet(
        noisy,
        clean,
        names,
        groups,
        str(root / "train"),
        name,
        read_texts(root / "train_cleaned", names),
    )
    return pages.subset(kept if split == "train" else held)
