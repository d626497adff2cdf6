"""Training data for the Korean text-line recognizers: charset, text corpus and synthetic line images."""
