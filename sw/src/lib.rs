//! unibit-sw (see ARCHITECTURE.md).
