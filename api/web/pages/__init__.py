"""Console pages, one module per area; `api.routes.console` includes their routers."""
