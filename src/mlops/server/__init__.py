"""The mlops tracking server: the tracking and registry APIs over HTTP (``mlops server``).

``mlops.server.app.create_app(config)`` builds the FastAPI application. Nothing is imported
here, so the REST client can use ``mlops.server.schemas`` without loading the web framework.
"""
