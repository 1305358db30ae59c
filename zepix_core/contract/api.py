"""The version of the plugin API this host offers."""

#: The plugin API version the host offers; plugins state ``requires_api`` against it.
API_VERSION = "1.0"

#: The shape of the host-owned tables of plugin databases (``context.database``);
#: plugins state ``requires_db_schema`` against it. ``zepix_core.plugindb`` owns them.
DB_SCHEMA_VERSION = "1.0"
