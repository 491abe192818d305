//! Build script: embeds the official browser client, the npm package `socket.io-client` at
//! a pinned version, so that `/socket.io/socket.io.js` can be served as Node's server does.
//!
//! The bundle is never committed. It comes from, in this order:
//! 1. `TOWER_SOCKETIO_CLIENT_BUNDLE`: a tarball (`npm pack socket.io-client@4.8.4`) or an
//!    unpacked package directory, for offline builds;
//! 2. `npm pack`, run quietly in a scratch directory under `OUT_DIR` with a time limit.
//!
//! The tarball must match the package's published sha512 integrity and every file its pinned
//! sha256, both below. Each file is written to `OUT_DIR/socket.io-client/` as is, gzipped and
//! brotli-compressed, once. When no bundle can be had (no npm, offline, docs.rs), the crate
//! still builds: the `tsio_no_client_bundle` cfg is set, a cargo warning says how to get the
//! bundle, and the server answers the client URLs with 404.
//!
//! It also lists the fuzz targets (`fuzz/fuzz_targets/*.rs`) for `tests/fuzz_corpus.rs`, which
//! replays their corpus as ordinary tests: a new target file is all it takes (see
//! [`fuzz_targets`]).

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest, Sha256, Sha512};

/// The npm package and its pinned version.
const PACKAGE: &str = "socket.io-client";
const VERSION: &str = "4.8.4";
/// `npm view socket.io-client@4.8.4 dist.integrity`.
const INTEGRITY: &str = "sha512-7wjKAvVXYOJsbmUgkWbnhPD4bFpkqrUR0++XOjpGFmqDqsqV1CI93VTraeExLxpjxEqrWgFoSRZu1ihjLWfkAA==";

/// The files served, from the package's `dist/`, with their sha256.
const FILES: [(&str, &str); 8] = [
    (
        "socket.io.js",
        "e135466dffd976ef028000a211a6dfd4dda0f5a91af760f122585131f4ee9936",
    ),
    (
        "socket.io.js.map",
        "cfce7ead20857eec01b8174c8428fe5cb57e767afdd23f0b880e0ca2ff37424c",
    ),
    (
        "socket.io.min.js",
        "d5d79a35039e860b32bdef4795528b05c2f788d4b2d9dacc913120e2878f7b3f",
    ),
    (
        "socket.io.min.js.map",
        "f3bb40c9acac4071f1875bb9f09f113b0ccbc14bed1d1c46963bf64b41a3d6fe",
    ),
    (
        "socket.io.esm.min.js",
        "771c3872e7d9bf81020615fda67ef0fd2aa61fcaf1990100714a46fa2c39f8a1",
    ),
    (
        "socket.io.esm.min.js.map",
        "c9d398fa2ec6a2154406f992a9fe32dfbbe8fda8b4804ee2d292d131362d731f",
    ),
    (
        "socket.io.msgpack.min.js",
        "6b70101fcbb8a33e4d1a784f35f0aab2eee0d4fb84a374613019753ba998ce67",
    ),
    (
        "socket.io.msgpack.min.js.map",
        "77165466ad50ee0f502d4a123d2d6fdabf82ec21529533abef5a1a64326b98d5",
    ),
];

const BUNDLE_ENV: &str = "TOWER_SOCKETIO_CLIENT_BUNDLE";
const MISSING_CFG: &str = "tsio_no_client_bundle";
const NPM_TIMEOUT: Duration = Duration::from_secs(120);
/// Bounds on what is read: the tarball is about 330 KB, the largest file about 310 KB.
const MAX_TARBALL: u64 = 16 << 20;
const MAX_FILE: u64 = 4 << 20;
const MAX_ENTRIES: usize = 10_000;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed={BUNDLE_ENV}");
    println!("cargo::rerun-if-env-changed=DOCS_RS");
    println!("cargo::rustc-check-cfg=cfg({MISSING_CFG})");
    println!("cargo::rustc-env=TSIO_CLIENT_VERSION={VERSION}");

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fuzz_targets(&out);
    let dest = out.join("socket.io-client");
    if let Err(why) = embed(&out, &dest) {
        let why = why.replace(['\n', '\r'], " ");
        println!("cargo::rustc-cfg={MISSING_CFG}");
        println!("cargo::rustc-env=TSIO_CLIENT_MISSING={why}");
        if std::env::var_os("DOCS_RS").is_none() {
            println!(
                "cargo::warning=the browser client ({PACKAGE} {VERSION}) is not embedded: {why}. \
                 `/socket.io/socket.io.js` will answer 404. To embed it, build with npm on PATH \
                 (it runs `npm pack {PACKAGE}@{VERSION}`), or set {BUNDLE_ENV} to such a tarball \
                 or to an unpacked {PACKAGE} {VERSION} package, and rebuild."
            );
        }
    }
}

/// Gets, checks and writes the bundle into `dest`; the error says why it could not.
fn embed(out: &Path, dest: &Path) -> Result<(), String> {
    if std::env::var_os("DOCS_RS").is_some() {
        return Err("docs.rs build (npm is never run there)".into());
    }
    let stamp = dest.join(".stamp");
    let files = match std::env::var_os(BUNDLE_ENV).filter(|v| !v.is_empty()) {
        Some(path) => {
            let path = PathBuf::from(path);
            println!("cargo::rerun-if-changed={}", path.display());
            from_local(&path).map_err(|e| format!("{BUNDLE_ENV}={}: {e}", path.display()))?
        }
        None => {
            if fs::read_to_string(&stamp).is_ok_and(|s| s == INTEGRITY) && all_written(dest) {
                return Ok(());
            }
            let tarball = npm_pack(out)?;
            unpack(&tarball)?
        }
    };
    write_files(dest, &files).map_err(|e| format!("writing {}: {e}", dest.display()))?;
    fs::write(&stamp, INTEGRITY).map_err(|e| format!("writing {}: {e}", stamp.display()))?;
    Ok(())
}

fn all_written(dest: &Path) -> bool {
    FILES.iter().all(|(name, _)| {
        ["", ".gz", ".br"]
            .iter()
            .all(|ext| dest.join(format!("{name}{ext}")).is_file())
    })
}

/// A tarball or an unpacked package (its root, or its `dist/`).
fn from_local(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    if path.is_file() {
        let tarball = read_bounded(path, MAX_TARBALL).map_err(|e| e.to_string())?;
        return unpack(&tarball);
    }
    if !path.is_dir() {
        return Err("no such file or directory".into());
    }
    let dist = if path.join("dist").is_dir() {
        path.join("dist")
    } else {
        path.to_path_buf()
    };
    FILES
        .iter()
        .map(|(name, sha)| {
            let file = dist.join(name);
            let bytes = read_bounded(&file, MAX_FILE)
                .map_err(|e| format!("reading {}: {e}", file.display()))?;
            check_file(name, sha, &bytes)?;
            Ok(bytes)
        })
        .collect()
}

fn read_bounded(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    fs::File::open(path)?
        .take(max + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::other(format!("larger than {max} bytes")));
    }
    Ok(bytes)
}

fn check_file(name: &str, sha: &str, bytes: &[u8]) -> Result<(), String> {
    let got: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if got == sha {
        Ok(())
    } else {
        Err(format!(
            "{name} is not the one of {PACKAGE} {VERSION} (sha256 {got}, expected {sha})"
        ))
    }
}

/// Checks the tarball against the pinned integrity and reads the served files out of it.
fn unpack(tarball: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let got = format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha512::digest(tarball))
    );
    if got != INTEGRITY {
        return Err(format!(
            "the tarball is not {PACKAGE}@{VERSION} (integrity {got}, expected {INTEGRITY})"
        ));
    }
    let mut found: Vec<Option<Vec<u8>>> = vec![None; FILES.len()];
    let gz = flate2::read::GzDecoder::new(tarball);
    let mut archive = tar::Archive::new(gz);
    let entries = archive
        .entries()
        .map_err(|e| format!("reading the tarball: {e}"))?;
    for entry in entries.take(MAX_ENTRIES) {
        let mut entry = entry.map_err(|e| format!("reading the tarball: {e}"))?;
        let path = entry
            .path()
            .map_err(|e| format!("reading the tarball: {e}"))?
            .to_string_lossy()
            .into_owned();
        let Some(name) = path.strip_prefix("package/dist/") else {
            continue;
        };
        let Some(i) = FILES.iter().position(|(n, _)| *n == name) else {
            continue;
        };
        let mut bytes = Vec::new();
        (&mut entry)
            .take(MAX_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("reading {path} from the tarball: {e}"))?;
        if bytes.len() as u64 > MAX_FILE {
            return Err(format!("{path} is larger than {MAX_FILE} bytes"));
        }
        check_file(name, FILES[i].1, &bytes)?;
        found[i] = Some(bytes);
    }
    found
        .into_iter()
        .zip(FILES)
        .map(|(bytes, (name, _))| bytes.ok_or_else(|| format!("the tarball has no dist/{name}")))
        .collect()
}

/// Runs `npm pack socket.io-client@<version>` in a scratch directory; returns the tarball.
fn npm_pack(out: &Path) -> Result<Vec<u8>, String> {
    let dir = out.join("npm-pack");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let log = |name: &str| fs::File::create(dir.join(name)).map_err(|e| e.to_string());
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    let mut child = Command::new(npm)
        .arg("pack")
        .arg(format!("{PACKAGE}@{VERSION}"))
        // Quiet; a warm npm cache serves offline; a registry that cannot be reached fails
        // after one retry rather than npm's default backoff.
        .args(["--silent", "--ignore-scripts", "--prefer-offline"])
        .args(["--fetch-retries=1", "--pack-destination", "."])
        .current_dir(&dir)
        .env("npm_config_update_notifier", "false")
        .env("npm_config_fund", "false")
        .env("npm_config_audit", "false")
        .stdin(Stdio::null())
        .stdout(log("stdout.log")?)
        .stderr(log("stderr.log")?)
        .spawn()
        .map_err(|e| format!("could not run npm ({e})"))?;
    let deadline = Instant::now() + NPM_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("`npm pack` took longer than {NPM_TIMEOUT:?}"));
            }
            Err(e) => return Err(format!("waiting for npm: {e}")),
        }
    };
    if !status.success() {
        let stderr = fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
        let last = stderr
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        return Err(format!("`npm pack` failed ({status}) {last}"));
    }
    let tarball = dir.join(format!("{PACKAGE}-{VERSION}.tgz"));
    let bytes = read_bounded(&tarball, MAX_TARBALL)
        .map_err(|e| format!("`npm pack` left no {}: {e}", tarball.display()));
    let _ = fs::remove_dir_all(&dir);
    bytes
}

/// Writes each file as is, gzipped (`.gz`) and brotli-compressed (`.br`).
fn write_files(dest: &Path, files: &[Vec<u8>]) -> io::Result<()> {
    fs::create_dir_all(dest)?;
    let _ = fs::remove_file(dest.join(".stamp"));
    for ((name, _), bytes) in FILES.iter().zip(files) {
        fs::write(dest.join(name), bytes)?;

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(bytes)?;
        fs::write(dest.join(format!("{name}.gz")), gz.finish()?)?;

        let mut br = Vec::new();
        let params = brotli::enc::BrotliEncoderParams {
            quality: 11,
            lgwin: 22,
            ..Default::default()
        };
        brotli::BrotliCompress(&mut &bytes[..], &mut br, &params)?;
        fs::write(dest.join(format!("{name}.br")), br)?;
    }
    Ok(())
}

/// Writes `OUT_DIR/fuzz_targets.rs` for `tests/fuzz_corpus.rs`: for each fuzz target file,
/// the file as a module (its `run` is the entry point) and a test that replays the target's
/// corpus and regressions through it. A target's inner `#![cfg(...)]` line (a feature it
/// needs) is put on its module and test. Without a `fuzz/` directory (a published package),
/// the list is empty.
fn fuzz_targets(out: &Path) {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let dir = root.join("fuzz").join("fuzz_targets");
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut targets: Vec<PathBuf> = fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "rs"))
                .collect()
        })
        .unwrap_or_default();
    targets.sort();
    let mut code = String::from("// Generated by build.rs from fuzz/fuzz_targets/.\n");
    let mut names = Vec::new();
    for path in &targets {
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let cfg = fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("#![cfg(")
                    .and_then(|c| c.strip_suffix(")]"))
                    .map(|c| format!("#[cfg({c})]\n"))
            })
            .unwrap_or_default();
        code.push_str(&format!(
            "{cfg}#[path = {path:?}]\n#[allow(clippy::duplicate_mod)] // targets share fuzz/common/\nmod {name};\n\
             {cfg}#[test]\nfn {name}_corpus() {{\n    replay({name:?}, {name}::run);\n}}\n",
            path = path.display().to_string(),
        ));
        names.push(format!("{name:?}"));
    }
    code.push_str(&format!(
        "/// Every fuzz target, whether or not this build has its features.\n\
         const TARGETS: &[&str] = &[{}];\n",
        names.join(", ")
    ));
    let dest = out.join("fuzz_targets.rs");
    if fs::read_to_string(&dest).ok().as_deref() != Some(code.as_str()) {
        fs::write(&dest, code).expect("writing OUT_DIR/fuzz_targets.rs");
    }
}
