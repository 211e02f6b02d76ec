"""The named ways images are brought to one size, shared by the config that offers them
(``TrainConfig.resize``, ``resample``, ``pad``) and the decoder that applies them
(``aekit.data.decode``); kept apart so neither imports the other."""

RESIZE_MODES = ("stretch", "crop", "pad")
RESAMPLERS = ("nearest", "box", "bilinear", "hamming", "bicubic", "lanczos")
PAD_COLOURS = ("transparent", "white", "black")
