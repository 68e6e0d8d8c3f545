//! OpenFlow 1.3 wire codec: zero-copy views and validated `Repr` values, one module per family.
