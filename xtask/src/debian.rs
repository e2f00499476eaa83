//! Tools some tests need, from Debian's packages: Chromium and its WebDriver
//! for the viewer's browser test (browser downloads from anywhere else do
//! not work on our CI machines), `systemd-analyze` for the systemd unit's
//! test, podman for the container image. Installed here when missing and we run as root; otherwise the
//! error says what to install.

use std::process::Command;

use anyhow::{Result, bail};

/// Make sure `chromedriver` (and the `chromium` it drives) are installed.
pub fn ensure_chromium() -> Result<()> {
    ensure(
        &["chromedriver", "chromium"],
        &["chromium", "chromium-driver"],
        "the viewer's browser test",
    )
}

/// Make sure `systemd-analyze` is installed.
pub fn ensure_systemd_analyze() -> Result<()> {
    ensure(
        &["systemd-analyze"],
        &["systemd"],
        "the systemd unit's test",
    )
}

/// Make sure libfaketime is installed (the wall-clock fault test preloads it).
pub fn ensure_faketime() -> Result<()> {
    ensure(&["faketime"], &["faketime"], "the clock fault test")
}

/// Make sure `podman` is installed (to build the container image).
pub fn ensure_podman() -> Result<()> {
    ensure(&["podman"], &["podman"], "the container image")
}

/// Whether this process runs as root (chroot needs it).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Install `packages` with apt-get unless every one of `tools` is on the PATH.
fn ensure(tools: &[&str], packages: &[&str], why: &str) -> Result<()> {
    if tools.iter().all(|tool| on_path(tool)) {
        return Ok(());
    }
    let root = is_root();
    let list = packages.join(" ");
    if !root || !on_path("apt-get") {
        bail!("{why} needs Debian's {list}: `sudo apt-get install -y {list}`, then run again");
    }
    eprintln!("installing {list} for {why}");
    let install = [&["install", "-y", "--no-install-recommends"][..], packages].concat();
    for args in [&["update"][..], &install[..]] {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()?;
        if !status.success() {
            bail!("apt-get {} failed ({status})", args.join(" "));
        }
    }
    Ok(())
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}
