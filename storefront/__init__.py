"""The shoppers' web app. It hooks into the core like any plugin (entry point group
`zhongcao.surfaces`), so the core never imports it and a headless deployment can disable it."""

__version__ = "0.1.0"
