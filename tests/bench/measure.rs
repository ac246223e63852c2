//! `measure OUT COMMAND [ARG...]`: runs COMMAND once and writes to the file
//! OUT one line, `NANOSECONDS MAXRSS_KIB MINFLT UTIME_US STIME_US STATUS`:
//! the wall time from spawn to reap, and the kernel's resource usage of the
//! child (wait4).
//!
//! Why a separate program (scripts/bench builds it static): a child's peak
//! RSS (`ru_maxrss`) includes the memory of the process it was forked or
//! vforked from, up to its exec. Spawned from Python, every command would
//! report at least Python's ~13 MiB; spawned from this small static
//! program it reports its own. Built with plain rustc (no crates), so
//! `wait4` is declared here.

use std::fs;
use std::process::Command;
use std::time::Instant;

#[repr(C)]
#[derive(Default)]
struct Timeval {
    sec: i64,
    usec: i64,
}

#[repr(C)]
#[derive(Default)]
struct Rusage {
    utime: Timeval,
    stime: Timeval,
    maxrss: i64,
    ixrss: i64,
    idrss: i64,
    isrss: i64,
    minflt: i64,
    majflt: i64,
    nswap: i64,
    inblock: i64,
    oublock: i64,
    msgsnd: i64,
    msgrcv: i64,
    nsignals: i64,
    nvcsw: i64,
    nivcsw: i64,
}

unsafe extern "C" {
    fn wait4(pid: i32, status: *mut i32, options: i32, usage: *mut Rusage) -> i32;
}

fn main() {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: measure OUT COMMAND [ARG...]");
        std::process::exit(2);
    }
    let started = Instant::now();
    let child = match Command::new(&args[1]).args(&args[2..]).spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("measure: {}: {e}", args[1].to_string_lossy());
            std::process::exit(127);
        }
    };
    let mut status = 0;
    let mut usage = Rusage::default();
    // SAFETY: a plain system call on our own child, with valid pointers.
    let r = unsafe { wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed().as_nanos();
    if r < 0 {
        eprintln!("measure: wait4 failed");
        std::process::exit(1);
    }
    let line = format!(
        "{elapsed} {} {} {} {} {status}\n",
        usage.maxrss,
        usage.minflt,
        usage.utime.sec * 1_000_000 + usage.utime.usec,
        usage.stime.sec * 1_000_000 + usage.stime.usec,
    );
    if fs::write(&args[0], line).is_err() {
        std::process::exit(1);
    }
}
