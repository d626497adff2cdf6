"""Tools for running and checking the whole stack on one machine, from a checkout: the local supervisor
``make run`` starts (``stack``), the Papago-compatible stand-in server (``papago_server``, also the Compose
``dev`` profile's service) and the colour test pages (``color_cases``). No image installs them."""
