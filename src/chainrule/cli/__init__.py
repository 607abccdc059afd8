"""The ``chainrule`` command: main parses and turns errors into one line; one module per
command does the work."""
