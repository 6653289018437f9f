"""The protocol the Blender extension and the server share, defined once (docs/protocol.md).

Standard library only: the server imports it as `in2n_protocol`, and the extension build copies it into the
extension zip (`blender_in2n/in2n_protocol/`), where `blender_in2n.protocol` finds it.

- `wire`: versions, routes, event kinds, job states, export kinds and their parameters, camera checks;
- `edit_params`: `EditParams`, every edit parameter with its default, bounds and docstring.
"""
