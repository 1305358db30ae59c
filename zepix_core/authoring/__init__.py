"""The plugin author's kit: a plugin loaded for testing (``harness``), the
conformance suite, the pytest plugin, the hook reference generator and the
``zepix new-plugin`` template. Authors import it through ``zepix_core.testing``.
"""

#: The package's public modules; a module named ``_x`` is private to it.
__all__ = ["conformance", "harness", "hookdoc", "pytest_plugin", "testing"]
