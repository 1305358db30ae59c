"""From files to plugins: where Zepix keeps its files, the config file (read,
watched, edited), entry-point discovery, declared plugin settings and version
resolution.
"""

#: The package's public modules; a module named ``_x`` is private to it.
__all__ = ["config", "configdoc", "discovery", "edit", "paths", "resolution", "settings",
           "syncconfig", "tables",
           "watch"]
