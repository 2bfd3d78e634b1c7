"""OCPI 2.2.1 as pydantic v2 models: one module per OCPI module, the shared types in types.py.

Field names are OCPI's own (snake_case on the wire). Models refuse what 2.2.1 forbids on the way
in (a precise 2001 to the sender) and write exactly what it asks for on the way out.
"""
