from landscape.cli.client import run

run()
