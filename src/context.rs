//! What every command works with, below the command-line front end: the
//! root every path is resolved beneath, whether this is a dry run, and
//! whether that root is the running system.

use std::cell::RefCell;

use crate::root::Root;
use crate::system::Lock;

/// The lock file that serialises commands that change the system.
pub const LOCK_PATH: &str = "/run/kexecctl/lock";

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
    /// Held while a command changes the system (two `kexec-load stop`, or a
    /// load and a `coldreboot`, never interleave); the act stage releases
    /// it before handing over to the init system (reboot, systemctl).
    pub lock: RefCell<Option<Lock>>,
}

impl Ctx {
    pub fn new(root: Root, dry_run: bool, stand_in: bool) -> Self {
        let live = root.is_host_root() || stand_in;
        Ctx {
            root,
            dry_run,
            live,
            lock: RefCell::new(None),
        }
    }
}
