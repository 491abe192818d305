//! Build script: embeds npm packages the server serves, at pinned versions, byte for byte:
//! - always, the official browser client, `socket.io-client`, so that
//!   `/socket.io/socket.io.js` can be served as Node's server does;
//! - with the `admin-ui` feature, the built Socket.IO Admin UI (`ui/dist` of
//!   `@socket.io/admin-ui`), served where `serve_admin_ui` says.
//!
//! No bundle is ever committed. Each comes from, in this order:
//! 1. its environment variable (`TOWER_SOCKETIO_CLIENT_BUNDLE`,
//!    `TOWER_SOCKETIO_ADMIN_UI_BUNDLE`): a tarball (`npm pack <package>@<version>`) or an
//!    unpacked package directory, for offline builds;
//! 2. `npm pack`, run quietly in a scratch directory under `OUT_DIR` with a time limit.
//!
//! The tarball must match the package's published sha512 integrity and every file its pinned
//! sha256, both below. Each file is written to `OUT_DIR/<bundle>/` as is, gzipped and
//! brotli-compressed, once. When a bundle cannot be had (no npm, offline, docs.rs), the crate
//! still builds: its `tsio_no_*_bundle` cfg is set, a cargo warning says how to get it, and
//! the server answers its URLs with 404.
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

/// One pinned npm package and the files of it that are embedded.
struct Bundle {
    /// The npm package and its pinned version.
    package: &'static str,
    version: &'static str,
    /// `npm view <package>@<version> dist.integrity`.
    integrity: &'static str,
    /// Where the files are inside the tarball (and inside an unpacked package).
    dir_in_package: &'static str,
    /// The embedded files, relative to `dir_in_package`, with their sha256.
    files: &'static [(&'static str, &'static str)],
    /// The directory under `OUT_DIR` it is written to.
    out_dir: &'static str,
    /// The environment variable naming a local tarball or unpacked package.
    env: &'static str,
    /// The cfg set when the bundle is missing.
    missing_cfg: &'static str,
    /// `cargo::rustc-env` names: the version, and why it is missing.
    version_env: &'static str,
    missing_env: &'static str,
    /// What a missing bundle means, for the cargo warning.
    consequence: &'static str,
}

const CLIENT: Bundle = Bundle {
    package: "socket.io-client",
    version: "4.8.4",
    integrity: "sha512-7wjKAvVXYOJsbmUgkWbnhPD4bFpkqrUR0++XOjpGFmqDqsqV1CI93VTraeExLxpjxEqrWgFoSRZu1ihjLWfkAA==",
    dir_in_package: "dist",
    files: &[
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
    ],
    out_dir: "socket.io-client",
    env: "TOWER_SOCKETIO_CLIENT_BUNDLE",
    missing_cfg: "tsio_no_client_bundle",
    version_env: "TSIO_CLIENT_VERSION",
    missing_env: "TSIO_CLIENT_MISSING",
    consequence: "`/socket.io/socket.io.js` will answer 404",
};

/// The built Admin UI of `@socket.io/admin-ui` (MIT), without its source maps (73 % of its
/// bytes, fetched only by an open devtools; their URLs answer 404).
const ADMIN_UI: Bundle = Bundle {
    package: "@socket.io/admin-ui",
    version: "0.5.1",
    integrity: "sha512-1dlGL2FGm6T+uL1e6iDvbo2eCINwvW7iVbjIblwh5kPPRM1SP8lmZrbFZf4QNJ/cqQ+JLcx49eXGM9WAB4TK7w==",
    dir_in_package: "ui/dist",
    files: &[
        (
            "index.html",
            "67a13cccebc404e98abc5918919251c9c7a66781e5c070ac4c75cfbc09802f09",
        ),
        (
            "favicon.png",
            "347af563b949feed7fb59b6ea07f5ffb69b8ba1575b8a2661d7b8be15d5927fe",
        ),
        (
            "css/app.6e3b9661.css",
            "2aeabcc24838434585fca31a118d5f64f0dd431e03d5a1f5421dafb5707784ec",
        ),
        (
            "css/chunk-vendors.9f55d012.css",
            "386429673df48433ba0e73031f5dfaa660484dca4ec04cc92e0459a928eb15d8",
        ),
        (
            "img/logo-dark.3727fec5.svg",
            "0eddd2f7e7732926a708a097d4f33305ed962167afdb2eadf41799fffb9da58c",
        ),
        (
            "img/logo-light.73342c25.svg",
            "21513677f5470d9371dcb9e3e88e68145c7340a9a964581eb3290e5523eb1ee5",
        ),
        (
            "js/app.0d7d7845.js",
            "d90c751f28963c7f98ed3d4c524ac816c84fc5aeca58e52d296e03b087403436",
        ),
        (
            "js/chunk-vendors.934c03ff.js",
            "e9866b73d99f8939fa3c979b88da2270e53a0ef9a26d331400bd3d90e9cc39e2",
        ),
    ],
    out_dir: "admin-ui",
    env: "TOWER_SOCKETIO_ADMIN_UI_BUNDLE",
    missing_cfg: "tsio_no_admin_ui_bundle",
    version_env: "TSIO_ADMIN_UI_VERSION",
    missing_env: "TSIO_ADMIN_UI_MISSING",
    consequence: "the Admin UI's URLs will answer 404",
};

const NPM_TIMEOUT: Duration = Duration::from_secs(120);
/// Bounds on what is read: the largest tarball is about 1.3 MB, the largest file 3.2 MB.
const MAX_TARBALL: u64 = 16 << 20;
const MAX_FILE: u64 = 4 << 20;
const MAX_ENTRIES: usize = 10_000;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=DOCS_RS");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fuzz_targets(&out);
    bundle(&CLIENT, &out);
    // The cfg is declared either way; the files are fetched only with the feature.
    if std::env::var_os("CARGO_FEATURE_ADMIN_UI").is_some() {
        bundle(&ADMIN_UI, &out);
    } else {
        println!("cargo::rustc-check-cfg=cfg({})", ADMIN_UI.missing_cfg);
    }
}

/// Embeds one bundle, or sets its `missing_cfg` and says why.
fn bundle(b: &Bundle, out: &Path) {
    println!("cargo::rerun-if-env-changed={}", b.env);
    println!("cargo::rustc-check-cfg=cfg({})", b.missing_cfg);
    println!("cargo::rustc-env={}={}", b.version_env, b.version);
    let dest = out.join(b.out_dir);
    if let Err(why) = embed(b, out, &dest) {
        let why = why.replace(['\n', '\r'], " ");
        println!("cargo::rustc-cfg={}", b.missing_cfg);
        println!("cargo::rustc-env={}={why}", b.missing_env);
        if std::env::var_os("DOCS_RS").is_none() {
            let (package, version, env) = (b.package, b.version, b.env);
            println!(
                "cargo::warning={package} {version} is not embedded: {why}. {}. To embed it, \
                 build with npm on PATH (it runs `npm pack {package}@{version}`), or set {env} \
                 to such a tarball or to an unpacked {package} {version} package, and rebuild.",
                b.consequence
            );
        }
    }
}

/// Gets, checks and writes the bundle into `dest`; the error says why it could not.
fn embed(b: &Bundle, out: &Path, dest: &Path) -> Result<(), String> {
    if std::env::var_os("DOCS_RS").is_some() {
        return Err("docs.rs build (npm is never run there)".into());
    }
    let stamp = dest.join(".stamp");
    let files = match std::env::var_os(b.env).filter(|v| !v.is_empty()) {
        Some(path) => {
            let path = PathBuf::from(path);
            println!("cargo::rerun-if-changed={}", path.display());
            from_local(b, &path).map_err(|e| format!("{}={}: {e}", b.env, path.display()))?
        }
        None => {
            if fs::read_to_string(&stamp).is_ok_and(|s| s == b.integrity) && all_written(b, dest) {
                return Ok(());
            }
            let tarball = npm_pack(b, out)?;
            unpack(b, &tarball)?
        }
    };
    write_files(b, dest, &files).map_err(|e| format!("writing {}: {e}", dest.display()))?;
    fs::write(&stamp, b.integrity).map_err(|e| format!("writing {}: {e}", stamp.display()))?;
    Ok(())
}

fn all_written(b: &Bundle, dest: &Path) -> bool {
    b.files.iter().all(|(name, _)| {
        ["", ".gz", ".br"]
            .iter()
            .all(|ext| dest.join(format!("{name}{ext}")).is_file())
    })
}

/// A tarball or an unpacked package (its root, or the directory of its files).
fn from_local(b: &Bundle, path: &Path) -> Result<Vec<Vec<u8>>, String> {
    if path.is_file() {
        let tarball = read_bounded(path, MAX_TARBALL).map_err(|e| e.to_string())?;
        return unpack(b, &tarball);
    }
    if !path.is_dir() {
        return Err("no such file or directory".into());
    }
    let dir = if path.join(b.dir_in_package).is_dir() {
        path.join(b.dir_in_package)
    } else {
        path.to_path_buf()
    };
    b.files
        .iter()
        .map(|(name, sha)| {
            let file = dir.join(name);
            let bytes = read_bounded(&file, MAX_FILE)
                .map_err(|e| format!("reading {}: {e}", file.display()))?;
            check_file(b, name, sha, &bytes)?;
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

fn check_file(b: &Bundle, name: &str, sha: &str, bytes: &[u8]) -> Result<(), String> {
    let got: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if got == sha {
        Ok(())
    } else {
        Err(format!(
            "{name} is not the one of {} {} (sha256 {got}, expected {sha})",
            b.package, b.version
        ))
    }
}

/// Checks the tarball against the pinned integrity and reads the embedded files out of it.
fn unpack(b: &Bundle, tarball: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let got = format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha512::digest(tarball))
    );
    if got != b.integrity {
        return Err(format!(
            "the tarball is not {}@{} (integrity {got}, expected {})",
            b.package, b.version, b.integrity
        ));
    }
    let prefix = format!("package/{}/", b.dir_in_package);
    let mut found: Vec<Option<Vec<u8>>> = vec![None; b.files.len()];
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
        let Some(name) = path.strip_prefix(prefix.as_str()) else {
            continue;
        };
        let Some(i) = b.files.iter().position(|(n, _)| *n == name) else {
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
        check_file(b, name, b.files[i].1, &bytes)?;
        found[i] = Some(bytes);
    }
    found
        .into_iter()
        .zip(b.files)
        .map(|(bytes, (name, _))| {
            bytes.ok_or_else(|| format!("the tarball has no {}/{name}", b.dir_in_package))
        })
        .collect()
}

/// Runs `npm pack <package>@<version>` in a scratch directory; returns the tarball.
fn npm_pack(b: &Bundle, out: &Path) -> Result<Vec<u8>, String> {
    let dir = out.join(format!("npm-pack-{}", b.out_dir));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let log = |name: &str| fs::File::create(dir.join(name)).map_err(|e| e.to_string());
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    let mut child = Command::new(npm)
        .arg("pack")
        .arg(format!("{}@{}", b.package, b.version))
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
    // npm names a scoped package's tarball `<scope>-<name>-<version>.tgz`.
    let file = format!(
        "{}-{}.tgz",
        b.package.trim_start_matches('@').replace('/', "-"),
        b.version
    );
    let tarball = dir.join(file);
    let bytes = read_bounded(&tarball, MAX_TARBALL)
        .map_err(|e| format!("`npm pack` left no {}: {e}", tarball.display()));
    let _ = fs::remove_dir_all(&dir);
    bytes
}

/// Writes each file as is, gzipped (`.gz`) and brotli-compressed (`.br`).
fn write_files(b: &Bundle, dest: &Path, files: &[Vec<u8>]) -> io::Result<()> {
    fs::create_dir_all(dest)?;
    let _ = fs::remove_file(dest.join(".stamp"));
    for ((name, _), bytes) in b.files.iter().zip(files) {
        let path = dest.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, bytes)?;

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
