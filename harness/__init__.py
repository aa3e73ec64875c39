"""arec: conformance toolkit for call recorders in the Genesys Active Recording Ecosystem flow."""

__version__ = "0.1.0"
