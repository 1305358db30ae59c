"""The sync manager: copies trades from plugin databases into the central ledger."""
