//! unibit-hw (see ARCHITECTURE.md).
