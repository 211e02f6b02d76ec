"""The named ways images are brought to one size, shared by the config that offers them
(``TrainConfig.resize``, ``resample``, ``pad``) and the decoder that applies them
(``aekit.data.decode``); kept apart so neither imports the other; and ``parse_size``, how both read
an image size."""

from aekit.errors import ConfigError

RESIZE_MODES = ("stretch", "crop", "pad")
RESAMPLERS = ("nearest", "box", "bilinear", "hamming", "bicubic", "lanczos")
PAD_COLOURS = ("transparent", "white", "black")


def parse_size(value: int | str | tuple[int, int] | None) -> tuple[int, int] | None:
    """``S``, ``"S"``, ``"WxH"`` or ``(W, H)`` -> ``(W, H)``; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        parts = value.lower().split("x")
        if len(parts) not in (1, 2) or not all(p.strip().isdigit() for p in parts):
            raise ConfigError(f"image_size must be S or WxH (as in 64 or 48x32), got {value!r}")
        dims = [int(p) for p in parts]
        value = (dims[0], dims[-1])
    if isinstance(value, bool) or not isinstance(value, (int, tuple, list)):
        raise ConfigError(f"image_size must be S or WxH, got {value!r}")
    w, h = (value, value) if isinstance(value, int) else tuple(value)
    if not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 4096 for d in (w, h)):
        raise ConfigError(f"image_size must be between 1 and 4096 on each side, got {value!r}")
    return int(w), int(h)
