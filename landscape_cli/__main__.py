from landscape_cli.main import run

run()
