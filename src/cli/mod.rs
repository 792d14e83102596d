//! Argument structs and glue for each group of subcommands.

pub mod core_cmds;
pub mod table;
