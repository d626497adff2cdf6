"""Tools for running and checking the whole stack on one machine, from a checkout: the local supervisor
``make run`` starts (``stack``), the Papago-compatible stand-in server (``papago_server``, also the Compose
``dev`` profile's service), the colour test pages (``color_cases``), the layering rules (``imports``) and
the pins the Makefile reads from pyproject.toml (``pins``). No image installs them."""
