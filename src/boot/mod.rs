//! Boot entries: which kernel, initrds and command line the next boot would
//! use, from GRUB's configuration ([`grub`], [`grubenv`]) and Boot Loader
//! Specification entries ([`bls`]). [`locate`] maps the paths GRUB uses
//! (relative to the partition holding them) to paths in the system.

pub mod bls;
pub mod grub;
pub mod grubenv;
pub mod locate;
