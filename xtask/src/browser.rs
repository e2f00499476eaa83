//! The viewer's browser test needs Chromium and its WebDriver, from Debian's
//! packages (`chromium`, `chromium-driver`): browser downloads from anywhere
//! else do not work on our CI machines. Installed here when missing and we
//! run as root; otherwise the error says what to install.

use std::process::Command;

use anyhow::{Result, bail};

/// Make sure `chromedriver` (and the `chromium` it drives) are installed.
pub fn ensure_chromium() -> Result<()> {
    if on_path("chromedriver") && on_path("chromium") {
        return Ok(());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root || !on_path("apt-get") {
        bail!(
            "the viewer's browser test needs Debian's `chromium` and `chromium-driver`: \
             `sudo apt-get install -y chromium chromium-driver`, then run again"
        );
    }
    eprintln!("installing chromium and chromium-driver for the viewer's browser test");
    for args in [
        &["update"][..],
        &[
            "install",
            "-y",
            "--no-install-recommends",
            "chromium",
            "chromium-driver",
        ][..],
    ] {
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
