"""Static files of the browser map (served by :func:`crimemap.api.create_app`)."""
