//! The integration tests: one binary (ripgrep's layout), each module a
//! concern, all running the real kexecctl binary.

mod coldreboot;
mod debian_oracle;
mod dispatch;
mod docs;
mod faults;
mod json_schema;
mod kdump_oracle;
mod kdump_setup;
mod kdump_tools_oracle;
mod kexec_load;
mod kexecctl;
mod packaging;
mod reader_properties;
mod shell_vs_dash;
mod util;
