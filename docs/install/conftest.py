# Ballast's fixtures: the test database created as the schema owner, `committed`, `tenant`, `make_token`.
pytest_plugins = ["ballast.pytest_plugin"]
