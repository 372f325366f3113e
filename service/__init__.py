"""xuanxue HTTP service (FastAPI): validate → one library call → response schema.

Build the app with :func:`service.main.create_app`; serve it with :func:`service.main.run`
(``recommender serve``). Importing this package has no side effects.
"""
