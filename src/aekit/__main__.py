from aekit.cli import run

run()
