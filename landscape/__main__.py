from landscape.cli.main import run

run()
