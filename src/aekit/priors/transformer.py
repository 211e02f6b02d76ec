"""``transformer``: a small class-conditional transformer over a vq-vae's code map.

The ``h x w`` map of codebook indices is read in raster order behind a class token; a causal
transformer (pre-norm, GELU, learned positions) predicts each index from the class and the indices
before it, so p(map | class) = prod_t p(index_t | class, index_<t). On a few thousand sprites it
draws whole objects where a Gaussian mixture over a flattened code draws blends of them: the
choice of one index conditions every later one.

Sampling takes a ``temperature`` and ``top_k`` (its config, saved in the JSON). ``vary`` draws
variations of given maps: each position keeps its index with probability ``1 - spread``, else
draws a new one given the class and the indices before it (``aekit sample --like``).

Classifier-free guidance (as in MaskGIT, Muse and VQGAN's class-conditional samplers): fitting
replaces the class token by a learned "no class" token for a share ``class_dropout`` of the maps,
so the same network also models p(map); sampling then takes the logits l_u + g (l_c - l_u) of the
class (l_c) and of no class (l_u), ``guidance`` g, from one batch of twice the maps. ``log_prob``
and ``likeliest_class`` stay the plain conditional model. A prior saved before these options
existed has no such token (``absent_options``) and samples as it always did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from aekit.config import option
from aekit.errors import ConfigError
from aekit.priors.base import Prior, between
from aekit.priors.fitting import FitClock, max_seconds_option

# What a saved transformer may claim before it is built (its size is counted too, see load_prior).
MAX_CODES = 1 << 16
BATCH = 32


@dataclass
class TransformerPriorConfig:
    steps: int = option(
        20000,
        "transformer: optimiser steps (at most; max_seconds may stop it sooner)",
        between(1, 10_000_000),
    )
    width: int = option(128, "transformer: width of each token's vector", between(8, 2048))
    layers: int = option(3, "transformer: transformer layers", between(1, 64))
    heads: int = option(4, "transformer: attention heads (dividing the width)", between(1, 64))
    dropout: float = option(
        0.1,
        "transformer: dropout while fitting",
        ("must be from 0 to 0.9", lambda v: 0 <= v <= 0.9),
    )
    temperature: float = option(
        1.0,
        "transformer: sampling temperature (1: as fitted; below 1 measured worse on crawl "
        "tiles: more copies, fewer objects of the class asked for)",
        ("must be from 0.05 to 10", lambda v: 0.05 <= v <= 10),
    )
    top_k: int = option(
        0,
        "transformer: draw among the k likeliest codes at each position (0: all)",
        between(0, MAX_CODES),
    )
    class_dropout: float = option(
        0.1,
        "transformer: share of training maps fitted with a learned 'no class' token instead of "
        "their class, so that guidance can be used (0: no such token; ignored without labels; "
        "on crawl tiles 0.1 cost 2 of 213 held-out nats a map)",
        ("must be from 0 to 0.5", lambda v: 0 <= v <= 0.5),
    )
    guidance: float = option(
        1.0,
        "transformer: classifier-free guidance when sampling, logits l_u + g (l_c - l_u) of the "
        "class and of no class (1: the plain conditional model; needs class_dropout above 0). On "
        "crawl tiles 3 raised class match from 0.61 to 0.72 and lowered the Frechet distance of "
        "items and players but made floors far worse: no better overall",
        ("must be from 0 to 20", lambda v: 0 <= v <= 20),
    )
    max_seconds: float = max_seconds_option("transformer")


class TransformerPrior(Prior):
    """Autoregressive transformer over ``h x w`` int64 index maps, one class token first."""

    name = "transformer"
    description = (
        "class-conditional transformer over a vq-vae's index map (raster order, "
        "temperature and top-k)"
    )
    Config = TransformerPriorConfig
    discrete_code = True
    class_conditional = True
    absent_options = {"class_dropout": 0.0}  # priors saved before it were fitted without

    def __init__(
        self, code_shape: tuple[int, ...], num_classes: int | None, num_codes: int, **options: Any
    ):
        super().__init__(code_shape, num_classes, **options)
        if len(self.code_shape) != 2:
            raise ConfigError(
                f"prior 'transformer' is over h x w index maps, not codes of shape "
                f"{list(self.code_shape)}"
            )
        if (
            isinstance(num_codes, bool)
            or not isinstance(num_codes, int)
            or not 2 <= num_codes <= MAX_CODES
        ):
            raise ConfigError(
                f"prior 'transformer': num_codes must be an integer from 2 to {MAX_CODES:,}, "
                f"got {num_codes!r}"
            )
        c = self.config
        if c.width % c.heads:
            raise ConfigError(
                f"prior 'transformer': width {c.width} is not a multiple of heads {c.heads}"
            )
        self.num_codes = num_codes
        length, classes = math.prod(self.code_shape), num_classes or 1
        # "no class" is the class token after the classes (index num_classes), for guidance
        self.guided = self.conditional and c.class_dropout > 0
        if c.guidance != 1 and not self.guided:
            raise ConfigError(
                "prior 'transformer': guidance needs class labels and class_dropout above 0 "
                "(the 'no class' token it guides by)"
            )
        self.token = nn.Embedding(num_codes, c.width)
        self.start = nn.Embedding(classes + int(self.guided), c.width)  # first in the sequence
        self.position = nn.Parameter(torch.randn(length, c.width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            c.width,
            c.heads,
            4 * c.width,
            c.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.width)
        self.head = nn.Linear(c.width, num_codes)
        self.register_buffer("class_counts", torch.ones(classes, dtype=torch.float64))

    def options(self) -> dict[str, Any]:
        return {**super().options(), "num_codes": self.num_codes}

    @classmethod
    def for_model(cls, model, code_shape, num_classes, options):
        return cls(code_shape, num_classes, num_codes=model.num_codes, **options)

    # --- the network ----------------------------------------------------------------------------
    def logits(self, tokens: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """``B x T`` indices (raster order, T <= h*w) and ``B`` classes -> ``B x T x num_codes``
        logits: position t's depend on the class and ``tokens[:, :t]`` only."""
        first = self.start(classes).unsqueeze(1)
        x = torch.cat([first, self.token(tokens[:, :-1])], 1) + self.position[: tokens.shape[1]]
        mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1], device=x.device)
        return self.head(self.norm(self.blocks(x, mask=mask, is_causal=True)))

    def _next_logits(
        self, x: torch.Tensor, cache: list[tuple[torch.Tensor, torch.Tensor]]
    ) -> torch.Tensor:
        """The logits of the position after those in ``cache`` from its input ``x`` (``B x width``),
        reusing the earlier positions' keys and values: sampling a map costs one pass per position
        over one token instead of a pass over every token before it (``logits`` does the latter;
        ``tests/test_transformer_prior.py`` checks the two agree). ``cache`` grows by one entry."""

        def split(t: torch.Tensor) -> torch.Tensor:  # B x width -> B x heads x 1 x head width
            return t.view(len(t), self.config.heads, 1, -1)

        for i, block in enumerate(self.blocks.layers):
            attention = block.self_attn
            q, k, v = F.linear(
                block.norm1(x), attention.in_proj_weight, attention.in_proj_bias
            ).chunk(3, -1)
            if len(cache) > i:
                keys, values = (
                    torch.cat([old, split(new)], 2) for old, new in zip(cache[i], (k, v))
                )
                cache[i] = (keys, values)
            else:
                cache.append((split(k), split(v)))
            mixed = F.scaled_dot_product_attention(split(q), *cache[i]).reshape(len(x), -1)
            x = x + attention.out_proj(mixed)
            x = x + block.linear2(F.gelu(block.linear1(block.norm2(x))))
        return self.head(self.norm(x))

    def _classes(self, labels: torch.Tensor | None, n: int) -> torch.Tensor:
        return torch.zeros(n, dtype=torch.long) if labels is None else labels.long()

    def _conditional_log_prob(self, codes: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        tokens = codes.flatten(1)
        return -F.cross_entropy(
            self.logits(tokens, classes).transpose(1, 2), tokens, reduction="none"
        ).sum(1)

    # --- what callers use
    # ---------------------------------------------------------------------------
    def fit(self, codes, labels=None, seed=0, quiet=True, lr: float = 1e-3):
        """Maximum likelihood: AdamW on seeded minibatches, warm-up then cosine decay to the end of
        ``steps`` or of ``max_seconds``, whichever comes first (the decay follows the clock
        then)."""
        if int(codes.min()) < 0 or int(codes.max()) >= self.num_codes:
            raise ConfigError(
                f"prior 'transformer': codes must be indices in 0..{self.num_codes - 1}"
            )
        classes = self._classes(labels, len(codes))
        self.class_counts.copy_(
            torch.bincount(classes, minlength=len(self.class_counts)).double().clamp_min(1e-3)
        )
        steps, limit = self.config.steps, self.config.max_seconds
        clock = FitClock(self.name, steps, limit, quiet, self.fit_started)
        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        optimizer = torch.optim.AdamW(self.parameters(), lr=lr, weight_decay=0.01)
        warmup = min(100, steps // 10 + 1)
        self.train()
        total, step = 0.0, 0
        for step in range(steps):
            for group in optimizer.param_groups:
                group["lr"] = (
                    lr
                    * min(1.0, (step + 1) / warmup)
                    * 0.5
                    * (1 + math.cos(math.pi * clock.progress(step)))
                )
            rows = torch.randint(len(codes), (min(BATCH, len(codes)),), generator=generator)
            given = classes[rows]
            if self.guided:
                dropped = torch.rand(len(rows), generator=generator) < self.config.class_dropout
                given = given.masked_fill(dropped, self.num_classes)
            loss = -self._conditional_log_prob(codes[rows], given).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 1.0)
            optimizer.step()
            total += loss.item()
            done = clock.done(step)
            if not quiet and ((step + 1) % 250 == 0 or done):
                print(
                    f"  transformer step {step + 1}/{steps}: {total / ((step % 250) + 1):.2f} "
                    "nats per map, "
                    f"{clock.elapsed():.0f} s",
                    flush=True,
                )
                total = 0.0
            if done:
                if not quiet:
                    print(
                        f"  transformer: max_seconds = {limit:g} reached after {step + 1} steps",
                        flush=True,
                    )
                break
        self.fit_note = clock.note(step)
        return self.eval()

    def class_weights(self):
        return self.class_counts / self.class_counts.sum()

    def log_prob(self, codes, labels=None):
        self._check_labels(labels, len(codes))
        if labels is not None or not self.conditional:
            return self._conditional_log_prob(codes, self._classes(labels, len(codes)))
        each = torch.stack(
            [
                self._conditional_log_prob(codes, torch.full((len(codes),), k))
                for k in range(self.num_classes)
            ],
            1,
        )
        return torch.logsumexp(each + self.class_weights().log().float(), 1)

    def likeliest_class(self, codes: torch.Tensor) -> torch.Tensor:
        """The class under which each map is most probable (argmax of log p(map | c) + log p(c))."""
        if not self.conditional:
            return torch.zeros(len(codes), dtype=torch.long)
        with torch.inference_mode():
            each = torch.stack(
                [
                    self._conditional_log_prob(codes, torch.full((len(codes),), k))
                    for k in range(self.num_classes)
                ],
                1,
            )
        return (each + self.class_weights().log().float()).argmax(1)

    def sample(self, n, generator=None, labels=None):
        labels = self._labels_for(n, labels, generator)
        start = torch.zeros(n, *self.code_shape, dtype=torch.long)
        return self.vary(start, 1.0, generator, labels)

    @torch.no_grad()
    def vary(
        self,
        codes: torch.Tensor,
        spread: float,
        generator: torch.Generator | None = None,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Maps like ``codes`` (``n x h x w``): in raster order each index is kept with probability
        ``1 - spread``, else drawn from p(index | class, the indices before it) at the config's
        guidance, temperature and top-k. Spread 0 returns ``codes``; spread 1 draws new maps of the
        class."""
        if not 0 <= spread <= 1:
            raise ConfigError(f"--spread must be from 0 to 1, got {spread}")
        n = len(codes)
        self._check_labels(labels, n)
        classes = self._classes(labels, n)
        guidance = self.config.guidance
        copies = 1 if guidance == 1 else 2  # each map given its class, then given no class
        if copies == 2:
            classes = torch.cat([classes, torch.full_like(classes, self.num_classes)])
        tokens = codes.flatten(1).clone()
        redraw = torch.rand(tokens.shape, generator=generator, dtype=torch.float64) < spread
        uniform = torch.rand(tokens.shape, generator=generator, dtype=torch.float64)
        cache: list[tuple[torch.Tensor, torch.Tensor]] = []
        for t in range(tokens.shape[1]):
            before = self.start(classes) if t == 0 else self.token(tokens[:, t - 1].repeat(copies))
            logits = self._next_logits(before + self.position[t], cache).double()
            if copies == 2:
                given, unguided = logits.chunk(2)
                logits = unguided + guidance * (given - unguided)
            logits = logits / self.config.temperature
            if not redraw[:, t].any():
                continue
            if 0 < self.config.top_k < self.num_codes:
                cutoff = logits.topk(self.config.top_k, 1).values[:, -1:]
                logits = logits.masked_fill(logits < cutoff, -math.inf)
            cumulative = logits.softmax(1).cumsum(1)
            drawn = (cumulative[:, :-1] / cumulative[:, -1:] <= uniform[:, t : t + 1]).sum(1)
            tokens[:, t] = torch.where(redraw[:, t], drawn, tokens[:, t])
        return tokens.view_as(codes)

    def export(self, name, latent, decoder_conditions, class_names, model, batch):
        raise ConfigError(
            "prior 'transformer' has no ONNX export yet; export the run with --no-priors "
            "(or --prior NAME for another fitted prior)"
        )
