"""SIPREC (RFC 7866 Session Recording Protocol, RFC 7865 recording metadata), sans-IO.

`multipart`: the multipart/mixed body of a recording-session request (RFC 2046 §5.1, RFC 5621);
`metadata`: the `application/rs-metadata+xml` model, its parse, build and `partial` updates;
`session`: what makes an INVITE a recording session and where its SDP and metadata are.
Nothing here does I/O: bytes in, values out (docs/architecture.md §5).
"""
