//! P4Runtime v1 client: arbitration, pipeline config, batched writes, reads, packet I/O.
