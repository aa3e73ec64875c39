"""Conformance scenarios: the layer that plays a whole Genesys flow against a recorder.

It sits above emulators, capture, validators and recorder adapters (which never import each
other sideways, docs/architecture.md §3) and is what the Gherkin step bindings drive.
"""
