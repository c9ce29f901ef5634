"""What a Plugin class declares, checked: read by the build, which bakes it into the ``.so``,
and by the runtime at ``plugin_init``. Never imports the tooling."""
