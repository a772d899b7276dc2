from hemtools.cli import main_entry

main_entry()
