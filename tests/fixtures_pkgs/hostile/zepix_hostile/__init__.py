"""Plugins that try to end, stall or blind their host, one way each.

Written from the plugin contract (CONTRACT.md) alone: every plugin implements the
four required hooks and breaks one promise on purpose.
"""
