//! What every command works with, below the command-line front end: the
//! root every path is resolved beneath, whether this is a dry run, and
//! whether that root is the running system.

use crate::root::Root;

#[derive(Debug, Clone)]
pub struct Ctx {
    pub root: Root,
    /// Describe what would be done; change nothing, run nothing.
    pub dry_run: bool,
    /// The root is the running system: its init system may be asked, its
    /// programs run and it may be rebooted. True for `/`; false for a tree
    /// given with `--root` (a chroot, an image, a test tree), whose programs
    /// run only chrooted into it and whose services are never asked — except
    /// under the test builds' recording system, which stands in for a
    /// machine whose root is the tree.
    pub live: bool,
}

impl Ctx {
    pub fn new(root: Root, dry_run: bool, stand_in: bool) -> Self {
        let live = root.is_host_root() || stand_in;
        Ctx {
            root,
            dry_run,
            live,
        }
    }
}
