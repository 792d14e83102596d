//! unibit-sim (see ARCHITECTURE.md).
