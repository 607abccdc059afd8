"""The pieces behind :mod:`chainrule.train.data`: generators, the shipped files and the CSV reader.

Import from ``chainrule.train.data``; these modules are split out only to keep each one short.
This package also holds the data files shipped with chainrule (see README.md here for their
sources and licences).
"""
