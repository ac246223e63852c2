//! The integration tests: one binary (ripgrep's layout), each module a
//! concern, all running the real kexecctl binary.

mod debian_oracle;
mod dispatch;
mod grub_oracle;
mod kdump_setup;
mod kexec_load;
mod packaging;
mod reader_properties;
mod shell_vs_dash;
mod util;
