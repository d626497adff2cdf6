"""Checkpoints (state_dict + config record + checksum) and importing released weights into them."""
