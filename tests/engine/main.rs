//! The core engine's behaviour, one module per feature (one test binary, to keep
//! builds short).

mod common;
mod criticality;
mod forever;
mod misuse;
mod panics;
mod property;
mod results;
mod seed;
mod shutdown;
mod timeout;

#[path = "../support/mod.rs"]
mod support;
