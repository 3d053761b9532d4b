"""Option files: YAML -> frozen, validated dataclasses (see ``schema.py`` for the loader and ``search.py`` /
``train.py`` for the sections)."""
