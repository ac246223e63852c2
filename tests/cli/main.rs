//! The integration tests: one binary (ripgrep's layout), each module a
//! concern, all running the real kexecctl binary.

mod coldreboot;
mod debian_oracle;
mod dispatch;
mod json_schema;
mod kdump_setup;
mod kexec_load;
mod kexecctl;
mod packaging;
mod reader_properties;
mod shell_vs_dash;
mod util;
mod watchdog;
