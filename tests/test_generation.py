"""Per-class generation measures on a small generated set whose true distribution is known: fresh
draws of it must score like held-out real images, copies of training images as copies."""

from __future__ import annotations

import time

import pytest
import torch

from aekit import generation
from aekit.data.datasets import ImageSet
from aekit.generation import MIN_BUDGET_SAMPLES, REAL, generation_measures, section_name
from aekit.generation_samplers import OVERALL, Sampler, pca_gaussian_sampler
from aekit.quality import get_classifier

CLASSES = ("stripes", "blobs", "rings")
SIZE = 12


def _bases() -> torch.Tensor:
    """Per class a mean image and 6 smooth directions of variation (fixed seed)."""
    gen = torch.Generator().manual_seed(123)
    coarse = torch.rand(len(CLASSES), 7, 3, 4, 4, generator=gen)
    return torch.nn.functional.interpolate(
        coarse.flatten(0, 1), size=SIZE, mode="bilinear"
    ).reshape(len(CLASSES), 7, 3, SIZE, SIZE)


BASES = _bases()


def draw(classes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Fresh images of the true distribution: each class's mean plus random multiples of its
    directions."""
    weights = torch.randn(len(classes), 6, generator=generator) * 0.25
    images = BASES[classes, 0] + torch.einsum("nk,nkchw->nchw", weights, BASES[classes, 1:] - 0.5)
    return (images.clamp(0, 1) * 255).round() / 255  # 8-bit, as stored


def image_set(counts: tuple[int, ...], seed: int) -> ImageSet:
    labels = torch.cat([torch.full((k,), c) for c, k in enumerate(counts)])
    labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))]
    pixels = (draw(labels, torch.Generator().manual_seed(seed)) * 255).round().to(torch.uint8)
    return ImageSet(pixels, labels, list(CLASSES), "toy", "generated")


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """Train and test sets (test: class 0 holds 10 exact copies of training images, class 2 only 30
    images) and the feature classifier trained on the training set."""
    # seeds apart from the samplers' (0): fresh draws, not replays
    train = image_set((500, 500, 500), 1000)
    test = image_set((190, 200, 30), 1001)
    copied = torch.nonzero(train.labels == 0).flatten()[:10]
    test = ImageSet(
        torch.cat([test.pixels, train.pixels[copied]]),
        torch.cat([test.labels, train.labels[copied]]),
        list(CLASSES),
        "toy",
        "generated",
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("AEKIT_CACHE", str(tmp_path_factory.mktemp("cache")))
    classifier = get_classifier("toy", train.images, train.labels, len(CLASSES), epochs=3)
    mp.undo()
    return train, test, classifier


def copies_of(train: ImageSet) -> Sampler:
    """Training images of the class asked for, drawn at random: a model that memorised its data."""

    def take(classes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        rows = [torch.nonzero(train.labels == c).flatten() for c in range(len(CLASSES))]
        picks = [
            rows[c][torch.randint(len(rows[c]), (1,), generator=generator)]
            for c in classes.tolist()
        ]
        return train.batch(torch.cat(picks))

    return Sampler("copies", True, take)


def test_fresh_draws_score_like_real_images_and_copies_as_copies(toy):
    train, test, classifier = toy
    samplers = {
        "fresh": Sampler("fresh", True, draw),
        "copies": copies_of(train),
        "mixed": Sampler(
            "mixed",
            False,
            lambda classes, generator: draw(
                torch.randint(len(CLASSES), (len(classes),), generator=generator), generator
            ),
        ),
    }
    result = generation_measures(samplers, train, test, classifier, n=150)
    sections = result.sections
    assert set(sections) == {section_name(c) for c in CLASSES} | {OVERALL}

    # the fixed number of samples per figure, fewer where a class has fewer held-out images
    assert result.summary["samples_per_figure"] == 150
    assert result.summary["images"] == {
        "stripes": 150,
        "blobs": 150,
        "rings": 30,
        "all classes": 150,
    }
    for title, section in sections.items():
        expected = 30 if title == section_name("rings") else 150
        images = section["images"]
        assert images[REAL] == images["fresh"] == images["copies"] == expected
        # unconditional: the first of 1.25x as many draws as the classes need that the classifier
        # puts in the class
        assert (0.8 * expected <= images["mixed"] <= expected) and (
            title != OVERALL or images["mixed"] == expected
        )
    assert any(
        "fewer where a class has fewer held-out images: rings 30" in note for note in result.notes
    )
    assert result.summary["duplicates_removed"] == 10
    assert any(
        note.startswith("generation: mixed: the classifier assigned fewer draws than asked to")
        and "among 413 draws" in note
        for note in result.notes
    )  # 1.25 x (150 + 150 + 30)

    for title in (section_name("stripes"), section_name("blobs"), OVERALL):
        section = sections[title]
        # real images are near-copies 5% of the time by construction; fresh draws about as often
        assert section["novelty"][REAL] == pytest.approx(0.05, abs=1 / 150)
        assert section["novelty"]["fresh"] < 0.15
        assert section["novelty"]["copies"] == 1.0
        for measure in ("precision_vs_train", "recall_vs_train"):
            assert section[measure]["fresh"] == pytest.approx(section[measure][REAL], abs=0.1)
        assert section["fd_to_train"]["fresh"] < 2 * section["fd_to_train"][REAL] + 1.0
        assert section["novelty"]["mixed"] < 0.15
    # a class-conditional sampler is scored on the class asked for; an unconditional one has no such
    # figure
    stripes = sections[section_name("stripes")]
    assert stripes["class_accuracy"]["fresh"] == pytest.approx(
        stripes["class_accuracy"][REAL], abs=0.1
    )
    assert "mixed" not in {k for k, v in stripes["class_accuracy"].items() if v is not None}
    assert stripes["class_share"]["mixed"] == pytest.approx(1 / 3, abs=0.1)
    assert (
        result.summary["samplers"]["mixed"] == "unconditional: classes assigned by the classifier"
    )


def test_duplicates_of_training_images_are_removed_before_the_novelty_threshold(toy):
    """Left in, the 10 copies in class 0's test images would put the 5% threshold at distance 0."""
    train, test, classifier = toy
    result = generation_measures({"copies": copies_of(train)}, train, test, classifier, n=200)
    section = result.sections[section_name("stripes")]
    # 200 test images of the class, 10 of them training images
    assert section["images"][REAL] == 190
    assert section["novelty"]["copies"] == 1.0


def test_without_a_sample_count_a_slow_sampler_gets_fewer_samples_within_the_budget(toy):
    train, test, classifier = toy

    def slow(classes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        time.sleep(0.001 * len(classes))
        return draw(classes, generator)

    began = time.perf_counter()
    result = generation_measures(
        {"slow": Sampler("slow", True, slow)}, train, test, classifier, n=None, seconds=0.2
    )
    drawing = result.summary["estimated_draw_seconds"]
    n = result.summary["samples_per_figure"]
    assert MIN_BUDGET_SAMPLES <= n <= 85  # 85 + 85 + 30 draws of 1 ms fill the 0.2 s
    assert drawing <= 0.2 and result.summary["budget_seconds"] == 0.2
    assert result.sections[section_name("stripes")]["images"] == {REAL: n, "slow": n}
    assert (
        f"{n} samples per class and overall" in result.notes[0]
        and "0.2 s budget" in result.notes[0]
    )
    assert time.perf_counter() - began < 30


def test_pca_gaussian_draws_the_class_asked_for(toy):
    train, test, classifier = toy
    result = generation_measures(
        {"pca": pca_gaussian_sampler(train, 8)}, train, test, classifier, n=100
    )
    for name in CLASSES[:2]:
        section = result.sections[section_name(name)]
        assert section["class_accuracy"]["pca"] > 0.8
        assert section["novelty"]["pca"] < 0.5


def test_with_many_classes_only_the_overall_figure(toy, monkeypatch):
    train, test, classifier = toy
    monkeypatch.setattr(generation, "MAX_CLASS_SECTIONS", 2)  # the toy's 3 classes count as many
    samplers = {
        "fresh": Sampler("fresh", True, draw),
        "copies": copies_of(train),
        "mixed": Sampler(
            "mixed",
            False,
            lambda classes, generator: draw(
                torch.randint(len(CLASSES), (len(classes),), generator=generator), generator
            ),
        ),
    }
    result = generation_measures(samplers, train, test, classifier, n=100)
    assert list(result.sections) == [OVERALL]
    overall = result.sections[OVERALL]
    assert overall["images"] == {REAL: 100, "fresh": 100, "copies": 100, "mixed": 100}
    assert overall["novelty"]["copies"] == 1.0 and overall["novelty"]["fresh"] < 0.15
    assert (
        overall["class_accuracy"]["fresh"] > 0.9 and overall["class_accuracy"].get("mixed") is None
    )
