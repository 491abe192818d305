//! The fuzz targets' corpus and every crash input, replayed as ordinary tests on stable.
//!
//! Each file of `fuzz/fuzz_targets/` is compiled here as a module (build.rs lists them) and
//! gets a test `<target>_corpus` that runs its entry point, the same `run` the fuzzer calls,
//! on every file of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`. An input fails
//! when it panics anywhere, also in a task or handler where the server catches the panic
//! to keep going (a panic hook counts them). See docs/security.md, "Fuzzing".

use std::cell::Cell;
use std::path::{Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/fuzz_targets.rs"));

thread_local! {
    /// Panics on this thread so far; the targets run their runtimes on the calling thread.
    static PANICS: Cell<usize> = const { Cell::new(0) };
}

fn count_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.with(|p| p.set(p.get() + 1));
            default(info);
        }));
    });
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Runs `run` on the target's corpus (which must not be empty) and regressions.
fn replay(target: &str, run: fn(&[u8])) {
    count_panics();
    let corpus = files(&fuzz_dir().join("corpus").join(target));
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target}/ is missing or empty: seed it, fuzz, then minimize it \
         (docs/security.md, \"Adding a fuzz target\")"
    );
    let regressions = files(&fuzz_dir().join("regressions").join(target));
    let mut failed = Vec::new();
    for path in corpus.iter().chain(&regressions) {
        let data = std::fs::read(path).expect("reading a corpus file");
        let before = PANICS.with(Cell::get);
        let result = std::panic::catch_unwind(|| run(&data));
        let panics = PANICS.with(Cell::get) - before;
        if result.is_err() || panics > 0 {
            failed.push(format!("{} ({panics} panics)", path.display()));
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {} inputs panicked:\n{}",
        failed.len(),
        corpus.len() + regressions.len(),
        failed.join("\n")
    );
}

/// Every corpus and regression directory belongs to a target, and every target is a
/// binary of `fuzz/Cargo.toml` (what `cargo fuzz add` writes), so none is left unfuzzed or
/// unreplayed.
#[test]
fn corpus_directories_and_fuzz_binaries_match_the_targets() {
    assert!(
        !TARGETS.is_empty(),
        "no fuzz target found in fuzz/fuzz_targets/"
    );
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind)) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                TARGETS.contains(&name.as_str()),
                "fuzz/{kind}/{name}/ has no target fuzz/fuzz_targets/{name}.rs"
            );
        }
    }
    let manifest =
        std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("reading fuzz/Cargo.toml");
    for target in TARGETS {
        assert!(
            manifest.contains(&format!(
                "name = \"{target}\"\npath = \"fuzz_targets/{target}.rs\""
            )),
            "fuzz/Cargo.toml has no [[bin]] for {target} (`cargo fuzz add {target}` writes it)"
        );
    }
}
