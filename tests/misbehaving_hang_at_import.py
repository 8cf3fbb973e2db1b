"""An adapter whose module hangs while it imports (as one waiting on a device or a lock does)."""
import time

time.sleep(3600)

backend = None  # never reached
