"""in2n-server: Instruct-NeRF2NeRF edits served to Blender (installed as `in2n_server`)."""

__version__ = "0.1.0"
