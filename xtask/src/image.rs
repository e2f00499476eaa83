//! `cargo xtask image`: the container image of `deploy/Containerfile`, built
//! with podman from files staged in `target/image/`: the binary, the shared
//! libraries `ldd` says it needs, `trailmark init`'s directory, CA
//! certificates. `smoke_test` exports the image's file system and runs the
//! image's own command in it under `chroot`, as the image's user, until
//! `/healthz` answers (running containers is not possible on our CI
//! machines; building and exporting is).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The image's name.
pub const TAG: &str = "localhost/trailmark:dev";

/// Stage `binary` and build the image; returns the staging directory.
pub fn build(root: &Path, target_dir: &Path, binary: &Path) -> Result<PathBuf> {
    let stage = target_dir.join("image");
    if stage.exists() {
        std::fs::remove_dir_all(&stage).with_context(|| format!("clearing {}", stage.display()))?;
    }
    let rootfs = stage.join("rootfs");
    copy(binary, &rootfs.join("usr/local/bin/trailmark"))?;
    for library in libraries(binary)? {
        let relative = library.strip_prefix("/").unwrap_or(&library);
        copy(&library, &rootfs.join(relative))?;
    }
    let certs = Path::new("/etc/ssl/certs/ca-certificates.crt");
    if certs.is_file() {
        copy(certs, &rootfs.join("etc/ssl/certs/ca-certificates.crt"))?;
    }
    let init = Command::new(binary)
        .arg("init")
        .arg(rootfs.join("etc/trailmark"))
        .output()
        .context("running trailmark init")?;
    if !init.status.success() {
        bail!("trailmark init: {}", String::from_utf8_lossy(&init.stderr));
    }
    let tmp = rootfs.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777))?;
    std::fs::create_dir_all(stage.join("state"))?;
    crate::run(
        Command::new("podman")
            .args(["build", "--quiet", "-t", TAG, "-f"])
            .arg(root.join("deploy/Containerfile"))
            .arg(&stage),
    )?;
    eprintln!("xtask: built {TAG}");
    Ok(stage)
}

/// Export the image's file system and run its entrypoint and command in it
/// (listening on loopback instead of 0.0.0.0:8088) until `/healthz` answers.
pub fn smoke_test(stage: &Path) -> Result<()> {
    let created = output(Command::new("podman").args(["create", TAG]))?;
    let container = created.trim().to_owned();
    let tar = stage.join("exported.tar");
    let exported = crate::run(
        Command::new("podman")
            .args(["export", &container, "-o"])
            .arg(&tar),
    );
    let _ = Command::new("podman")
        .args(["rm", &container])
        .stdout(Stdio::null())
        .status();
    exported?;
    let fs = stage.join("exported");
    std::fs::create_dir_all(&fs)?;
    crate::run(Command::new("tar").arg("-xf").arg(&tar).arg("-C").arg(&fs))?;
    let user = output(Command::new("podman").args([
        "image",
        "inspect",
        "--format",
        "{{.Config.User}}",
        TAG,
    ]))?;
    let entrypoint: Vec<String> = serde_json::from_str(&output(Command::new("podman").args([
        "image",
        "inspect",
        "--format",
        "{{json .Config.Entrypoint}}",
        TAG,
    ]))?)?;
    let cmd: Vec<String> = serde_json::from_str(&output(Command::new("podman").args([
        "image",
        "inspect",
        "--format",
        "{{json .Config.Cmd}}",
        TAG,
    ]))?)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let args: Vec<String> = entrypoint
        .into_iter()
        .chain(cmd)
        .map(|a| a.replace("0.0.0.0:8088", &format!("127.0.0.1:{port}")))
        .collect();
    let mut server = Command::new("chroot")
        .arg(format!("--userspec={}", user.trim()))
        .arg(&fs)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("chroot into the exported image")?;
    let url = format!("http://127.0.0.1:{port}/healthz");
    let deadline = Instant::now() + Duration::from_secs(60);
    let healthy = loop {
        let answered = Command::new("curl")
            .args(["-sf", "-o", "/dev/null", &url])
            .status()
            .is_ok_and(|s| s.success());
        if answered || Instant::now() > deadline {
            break answered;
        }
        if let Some(status) = server.try_wait()? {
            bail!("the image's command exited ({status}) before /healthz answered");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = server.kill();
    let out = server.wait_with_output()?;
    if !healthy {
        bail!(
            "the image's command did not answer /healthz in 60 s:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    eprintln!("xtask: the image's binary served /healthz from its exported file system");
    Ok(())
}

/// The shared libraries `binary` loads, as `ldd` lists them.
fn libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let listing = output(Command::new("ldd").arg(binary))?;
    Ok(listing
        .lines()
        .filter_map(|line| {
            let path = match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next(),
                None => line.split_whitespace().next(),
            }?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
