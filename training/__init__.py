"""Training the claims pair classifier (``make train``); never imported at run time."""
