"""The version of the plugin API this host offers."""

#: The plugin API version the host offers; plugins state ``requires_api`` against it.
API_VERSION = "1.0"
