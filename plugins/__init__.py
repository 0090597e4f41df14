"""Built-in plugins. Each registers through the `zhongcao.plugins` entry point group,
exactly like a third-party plugin, and touches the core only through hooks and the
services' public functions."""
