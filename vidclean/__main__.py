from vidclean.cli import entry

entry()
