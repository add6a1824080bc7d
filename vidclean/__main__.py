from vidclean.cli.main import entry

entry()
