"""``pktcable serve``: the whole back office in one process."""
