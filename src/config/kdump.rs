//! Which kdump configuration a system has — Red Hat's `/etc/sysconfig/kdump`
//! (read with kdumpctl's defaults), Debian's `/etc/default/kdump-tools`, or
//! only `/etc/kdump.conf` — and the rebuild policy of `/etc/kdump.conf`.

use std::fs;
use std::path::Path;

use crate::config::{self, Config, LegacySet};
use crate::error::{Error, Result};
use crate::kdump::{self, Family, RebuildPolicy};
use crate::root::Root;

pub const KDUMP_CONF: &str = "/etc/kdump.conf";

/// The kdump configuration of the system under `root`.
pub fn read(root: &Root) -> Result<(Family, Config<'_>, RebuildPolicy)> {
    let policy = match fs::read_to_string(root.host(KDUMP_CONF)) {
        Ok(text) => kdump::parse_kdump_conf(Path::new(KDUMP_CONF), &text)?,
        Err(_) => RebuildPolicy::default(),
    };
    if let Some(config) = config::read_set(root, LegacySet::RedHatKdump)? {
        return Ok((Family::RedHat, config, policy));
    }
    if let Some(config) = config::read_set(root, LegacySet::DebianKdumpTools)? {
        return Ok((Family::Debian, config, policy));
    }
    if root.host(KDUMP_CONF).is_file() {
        // kdumpctl runs with its defaults when the sysconfig file is absent.
        let config =
            config::read_files(root, &[], false, Vec::new(), Some(LegacySet::RedHatKdump))?;
        return Ok((Family::RedHat, config, policy));
    }
    Err(Error::not_configured(
        "kdump is not configured: none of /etc/sysconfig/kdump, /etc/default/kdump-tools or \
         /etc/kdump.conf exists",
    ))
}
