"""The command line interface (outer layer; the library never imports it)."""
