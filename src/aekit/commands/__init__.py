"""The commands on a trained run, each a thin function over the library (``aekit.run``,
``aekit.inference``, ``aekit.formats``); the CLI parses arguments and calls one of them."""
