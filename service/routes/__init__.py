"""One module per resource; :func:`service.main.create_app` includes their routers."""
