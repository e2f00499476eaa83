//! `trailmark plugin new NAME`: write a ready-to-build plugin crate from the
//! sdk's template (`sdk/template/`, embedded in the binary).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::json;

use super::OutputFormat;

/// The longest plugin name, as the host's rule loader accepts it.
pub const MAX_NAME_LEN: usize = crate::rules::MAX_PLUGIN_NAME_LEN;

/// The sdk this binary was built with, and the one crate of this workspace
/// it depends on (`trailmark-event`): (path below `vendor/`, contents), with
/// standalone manifests (see `host/build.rs`). Written into each generated
/// crate unless `--sdk-path` or `--sdk-git` says otherwise, so a plugin
/// builds from what an installed binary writes, with no checkout around.
const BUNDLED_SDK: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/bundled_sdk.rs"));

/// Where the bundled sdk goes in a generated crate.
const VENDOR_DIR: &str = "vendor";

/// The template files: (template, path in the generated crate, where `NAME`
/// in the path is the plugin name).
const TEMPLATES: &[(&str, &str)] = &[
    (
        include_str!("../../../sdk/template/Cargo.toml.tmpl"),
        "Cargo.toml",
    ),
    (
        include_str!("../../../sdk/template/lib.rs.tmpl"),
        "src/lib.rs",
    ),
    (
        include_str!("../../../sdk/template/rule.yaml.tmpl"),
        "NAME.rule.yaml",
    ),
    (
        include_str!("../../../sdk/template/README.md.tmpl"),
        "README.md",
    ),
    (
        include_str!("../../../sdk/template/gitignore.tmpl"),
        ".gitignore",
    ),
];

/// What `--http` uses instead of the plain plugin's `src/lib.rs` and rule,
/// and the destination file it adds.
const HTTP_TEMPLATES: &[(&str, &str)] = &[
    (
        include_str!("../../../sdk/template/http/lib.rs.tmpl"),
        "src/lib.rs",
    ),
    (
        include_str!("../../../sdk/template/http/rule.yaml.tmpl"),
        "NAME.rule.yaml",
    ),
    (
        include_str!("../../../sdk/template/http/destination.yaml.tmpl"),
        "NAME.destination.yaml",
    ),
];

/// Rust keywords (all editions, reserved ones included): a crate cannot be
/// named after one.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Crates every Rust build can see; a crate of the same name would shadow
/// them (`test` breaks `cargo test`).
const BUILTIN_CRATES: &[&str] = &["alloc", "core", "proc_macro", "std", "test"];

/// Names the template's `src/lib.rs` already uses at its top level or in its
/// tests; a plugin type named like one of them gets a `Plugin` suffix.
const TEMPLATE_ITEMS: &[&str] = &[
    "Answer",
    "Batch",
    "Call",
    "Config",
    "Deserialize",
    "Event",
    "Host",
    "Plugin",
    "PluginError",
    "StateChange",
    "String",
    "Result",
    "Template",
    "Value",
];

/// Plugin commands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Create a plugin crate: Cargo.toml, src/lib.rs with tests, a rule and a README.
    ///
    /// The crate builds as it is, with `cargo test` (natively) and
    /// `cargo build --target wasm32-wasip2 --release` (the component).
    /// Exit status: 0 when the crate was written; 2 for an invalid name, a
    /// directory that is not empty, or no sdk to depend on.
    #[command(
        after_help = "Examples:\n  trailmark plugin new audit-books\n  trailmark plugin new audit-books --dir plugins-src/audit-books\n  trailmark plugin new audit-books --sdk-git https://github.com/trailmark/trailmark\n  trailmark plugin new audit-books --sdk-path ../trailmark/sdk"
    )]
    New(NewArgs),
}

/// Arguments of `plugin new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's name: 1 to 64 of `a-z 0-9 _ -`, starting with a letter.
    /// It names the crate, the `.wasm` file in plugins/ and the rule.
    pub name: String,
    /// Where to create the crate [default: ./NAME]. It must not exist or be empty.
    #[arg(long, value_name = "PATH")]
    pub dir: Option<PathBuf>,
    /// Depend on the trailmark-sdk crate in this directory [default: the sdk
    /// this binary was built with, written into the crate's vendor/].
    #[arg(long, value_name = "PATH", conflicts_with = "sdk_git")]
    pub sdk_path: Option<PathBuf>,
    /// Depend on trailmark-sdk from this git repository instead.
    #[arg(long, value_name = "URL")]
    pub sdk_git: Option<String>,
    /// Generate a plugin that sends events to an HTTP destination (the
    /// `http` capability), with a destination file for the server.
    #[arg(long)]
    pub http: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// Why a plugin crate could not be created.
#[derive(Debug, thiserror::Error)]
pub enum NewPluginError {
    /// The name is not a valid plugin name.
    #[error(
        "`{name}` is not a valid plugin name: {problem}; use 1 to 64 of `a-z 0-9 _ -`, starting with a letter, e.g. `audit-books`"
    )]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The target exists and is not an empty directory.
    #[error(
        "{} already exists and is not an empty directory; choose another --dir or remove it first",
        .0.display()
    )]
    NotEmpty(PathBuf),
    /// `--sdk-path` does not name an sdk crate.
    #[error(
        "--sdk-path {}: no Cargo.toml there; pass the sdk/ directory of a Trailmark checkout",
        .0.display()
    )]
    NotAnSdk(PathBuf),
    /// A path that cannot be written into Cargo.toml.
    #[error("{}: the path is not valid UTF-8, so Cargo.toml cannot name it", .0.display())]
    NonUtf8Path(PathBuf),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Where the generated crate gets `trailmark-sdk` from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkSource {
    /// The sdk bundled in this binary, written into `vendor/`.
    Bundled,
    /// A local directory (absolute).
    Path(PathBuf),
    /// A git repository URL.
    Git(String),
}

impl SdkSource {
    /// Pick the source from the command line: `--sdk-git`, else `--sdk-path`
    /// (which must hold a Cargo.toml), else the sdk bundled in this binary.
    pub fn choose(sdk_path: Option<&Path>, sdk_git: Option<&str>) -> Result<Self, NewPluginError> {
        if let Some(url) = sdk_git {
            return Ok(Self::Git(url.to_owned()));
        }
        let Some(dir) = sdk_path else {
            return Ok(Self::Bundled);
        };
        let missing = || NewPluginError::NotAnSdk(dir.to_owned());
        if !dir.join("Cargo.toml").is_file() {
            return Err(missing());
        }
        let dir = dir.canonicalize().map_err(|_| missing())?;
        Ok(Self::Path(dir))
    }

    /// The files this source adds to the crate: the bundled sdk's, under
    /// `vendor/`; none for a path or git dependency.
    pub fn files(&self) -> Vec<(PathBuf, String)> {
        match self {
            Self::Bundled => BUNDLED_SDK
                .iter()
                .map(|(path, contents)| (Path::new(VENDOR_DIR).join(path), (*contents).to_owned()))
                .collect(),
            Self::Path(_) | Self::Git(_) => Vec::new(),
        }
    }

    /// The `[dependencies]` line for `trailmark-sdk`.
    pub fn dependency(&self) -> Result<String, NewPluginError> {
        let (key, value) = match self {
            Self::Bundled => ("path", "vendor/trailmark-sdk"),
            Self::Path(dir) => (
                "path",
                dir.to_str()
                    .ok_or_else(|| NewPluginError::NonUtf8Path(dir.clone()))?,
            ),
            Self::Git(url) => ("git", url.as_str()),
        };
        // toml quotes and escapes the value (backslashes in Windows paths, quotes).
        let value = toml::Value::String(value.to_owned());
        Ok(format!("trailmark-sdk = {{ {key} = {value} }}"))
    }
}

/// The names one plugin goes by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginNames {
    /// The plugin name: package, rule and `plugins/NAME.wasm`.
    pub name: String,
    /// The Rust crate name (`-` → `_`): the `.wasm` file cargo writes.
    pub crate_name: String,
    /// The type that implements `Plugin`, in UpperCamelCase.
    pub struct_name: String,
}

impl PluginNames {
    /// Check `name` against the plugin name rules (1 to 64 of `[a-z0-9_-]`,
    /// starting with a letter; not a Rust keyword or built-in crate) and
    /// derive the other names from it.
    pub fn new(name: &str) -> Result<Self, NewPluginError> {
        let invalid = |problem: String| NewPluginError::InvalidName {
            name: name.to_owned(),
            problem,
        };
        crate::rules::check_plugin_name(name).map_err(invalid)?;
        let crate_name = name.replace('-', "_");
        if KEYWORDS.contains(&crate_name.as_str()) {
            return Err(invalid(format!(
                "`{crate_name}` is a Rust keyword, so no crate can have it"
            )));
        }
        if BUILTIN_CRATES.contains(&crate_name.as_str()) {
            return Err(invalid(format!(
                "it would shadow Rust's built-in `{crate_name}` crate"
            )));
        }
        let mut struct_name: String = name
            .split(['-', '_'])
            .filter(|word| !word.is_empty())
            .map(|word| {
                let mut chars = word.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_ascii_uppercase().to_string() + chars.as_str()
                })
            })
            .collect();
        if TEMPLATE_ITEMS.contains(&struct_name.as_str()) {
            struct_name.push_str("Plugin");
        }
        Ok(Self {
            name: name.to_owned(),
            crate_name,
            struct_name,
        })
    }
}

/// Render the template files for `names`, depending on the sdk by
/// `sdk_dependency`: (path in the crate, contents).
pub fn render(names: &PluginNames, sdk_dependency: &str) -> Vec<(PathBuf, String)> {
    render_kind(names, sdk_dependency, false)
}

/// As [`render`]; with `http`, the templates of a plugin that calls an
/// HTTP destination.
pub fn render_kind(
    names: &PluginNames,
    sdk_dependency: &str,
    http: bool,
) -> Vec<(PathBuf, String)> {
    let overrides: &[(&str, &str)] = if http { HTTP_TEMPLATES } else { &[] };
    let kept = TEMPLATES
        .iter()
        .filter(|(_, path)| !overrides.iter().any(|(_, p)| p == path));
    kept.chain(overrides.iter())
        .map(|(template, path)| {
            let contents = template
                .replace("{{name}}", &names.name)
                .replace("{{crate_name}}", &names.crate_name)
                .replace("{{struct_name}}", &names.struct_name)
                .replace("{{sdk_dependency}}", sdk_dependency);
            (PathBuf::from(path.replace("NAME", &names.name)), contents)
        })
        .collect()
}

/// Write `files` into `dir`, creating it. Refuses a `dir` that exists and is
/// not an empty directory, and never replaces a file.
pub fn write(dir: &Path, files: &[(PathBuf, String)]) -> Result<(), NewPluginError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| NewPluginError::Io { path, source }
    };
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(NewPluginError::NotEmpty(dir.to_owned()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(_) if dir.exists() => return Err(NewPluginError::NotEmpty(dir.to_owned())),
        Err(e) => return Err(io(dir)(e)),
    }
    for (relative, contents) in files {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        // create_new: a file that appeared meanwhile is an error, not overwritten.
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io(&path))?;
        file.write_all(contents.as_bytes()).map_err(io(&path))?;
    }
    Ok(())
}

/// Run a `plugin` subcommand.
pub fn run(cmd: PluginCommand) -> Result<ExitCode> {
    match cmd {
        PluginCommand::New(args) => new(args),
    }
}

/// `plugin new`: every failure is invalid input, exit status 2.
fn new(args: NewArgs) -> Result<ExitCode> {
    let created = PluginNames::new(&args.name).and_then(|names| {
        let sdk = SdkSource::choose(args.sdk_path.as_deref(), args.sdk_git.as_deref())?;
        let dir = args
            .dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(&names.name));
        let mut files = render_kind(&names, &sdk.dependency()?, args.http);
        files.extend(sdk.files());
        write(&dir, &files)?;
        Ok((names, sdk, dir, files))
    });
    let (names, sdk, dir, files) = match created {
        Ok(created) => created,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let wasm = format!("target/wasm32-wasip2/release/{}.wasm", names.crate_name);
    let rule = format!("{}.rule.yaml", names.name);
    let steps = [
        format!("cd {}", dir.display()),
        "cargo test".to_owned(),
        "cargo build --target wasm32-wasip2 --release".to_owned(),
        format!("cp {wasm} <server>/plugins/{}.wasm", names.name),
        format!("cp {rule} <server>/rules/"),
    ];
    let steps: Vec<String> = if args.http {
        let destination = format!("{}.destination.yaml", names.name);
        steps
            .into_iter()
            .chain([format!(
                "cp {destination} <server>/rules/destinations/   (set its url; see docs/targets.md)"
            )])
            .collect()
    } else {
        steps.into_iter().collect()
    };
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "name": names.name,
                "crate": names.crate_name,
                "dir": dir,
                "files": files.iter().map(|(path, _)| path).collect::<Vec<_>>(),
                "sdk": match &sdk {
                    SdkSource::Bundled => json!({"bundled": format!("{VENDOR_DIR}/trailmark-sdk")}),
                    SdkSource::Path(path) => json!({"path": path}),
                    SdkSource::Git(url) => json!({"git": url}),
                },
                "wasm": wasm,
                "rule": rule,
                "next": steps,
            }))?
        ),
        OutputFormat::Table => {
            println!("Created plugin `{}` in {}", names.name, dir.display());
            for (path, _) in files.iter().filter(|(p, _)| !p.starts_with(VENDOR_DIR)) {
                println!("  {}", path.display());
            }
            if sdk == SdkSource::Bundled {
                println!(
                    "  {VENDOR_DIR}/ (trailmark-sdk and trailmark-event, as this binary was built with)"
                );
            }
            println!("\nNext steps (needs `rustup target add wasm32-wasip2`):");
            for step in &steps {
                println!("  {step}");
            }
            println!(
                "\n<server> is the Trailmark server's directory: it picks up the plugin and the rule by itself.\nThe README.md in the crate says more."
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(name: &str) -> PluginNames {
        PluginNames::new(name).expect("valid name")
    }

    #[test]
    fn names_derive_crate_and_type_names() {
        assert_eq!(
            names("audit-books"),
            PluginNames {
                name: "audit-books".to_owned(),
                crate_name: "audit_books".to_owned(),
                struct_name: "AuditBooks".to_owned(),
            }
        );
        assert_eq!(names("a__b-9x").struct_name, "AB9x");
        assert_eq!(names("x").struct_name, "X");
        assert_eq!(names(&"a".repeat(64)).name.len(), 64);
    }

    #[test]
    fn type_names_avoid_the_templates_own_items() {
        assert_eq!(names("config").struct_name, "ConfigPlugin");
        assert_eq!(names("plugin-error").struct_name, "PluginErrorPlugin");
        assert_eq!(names("event").struct_name, "EventPlugin");
    }

    #[test]
    fn bad_names_say_why() {
        for (name, why) in [
            ("", "0 characters"),
            (&"a".repeat(65), "65 characters"),
            ("9lives", "start with a letter"),
            ("-x", "start with a letter"),
            ("Audit", "start with a letter"),
            ("audit.books", "contains '.'"),
            ("audit/books", "contains '/'"),
            ("aUdit", "contains 'U'"),
            ("fn", "keyword"),
            ("self", "keyword"),
            ("test", "built-in `test`"),
            ("proc-macro", "built-in `proc_macro`"),
        ] {
            let error = PluginNames::new(name).expect_err(name).to_string();
            assert!(error.contains(why), "{name:?}: {error}");
            assert!(error.contains("e.g. `audit-books`"), "{name:?}: {error}");
        }
    }

    #[test]
    fn templates_use_only_known_placeholders() {
        let known = ["name", "crate_name", "struct_name", "sdk_dependency"];
        for (template, path) in TEMPLATES.iter().chain(HTTP_TEMPLATES) {
            let mut rest = *template;
            while let Some(start) = rest.find("{{") {
                let after = &rest[start + 2..];
                let end = after.find("}}").unwrap_or(after.len());
                let word = &after[..end];
                if word.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    assert!(
                        known.contains(&word),
                        "{path}: unknown placeholder {{{{{word}}}}}"
                    );
                }
                rest = after;
            }
        }
    }

    /// The paths of rendered files, in order.
    fn paths(files: &[(PathBuf, String)]) -> Vec<&str> {
        files
            .iter()
            .map(|(path, _)| path.to_str().expect("utf-8"))
            .collect()
    }

    #[test]
    fn http_plugins_replace_the_code_and_rule_and_add_a_destination() {
        let files = render_kind(&names("to-crm"), "trailmark-sdk = { git = \"u\" }", true);
        assert_eq!(
            paths(&files),
            [
                "Cargo.toml",
                "README.md",
                ".gitignore",
                "src/lib.rs",
                "to-crm.rule.yaml",
                "to-crm.destination.yaml"
            ]
        );
        let (_, code) = &files[3];
        assert!(
            code.contains("event.http(") && code.contains("pub ToCrm"),
            "{code}"
        );
        let (_, rule) = &files[4];
        assert!(rule.contains("http: [\"to-crm\"]"), "{rule}");
    }

    #[test]
    fn rendering_fills_every_placeholder() {
        let files = render(&names("audit-books"), "trailmark-sdk = { git = \"u\" }");
        assert_eq!(
            paths(&files),
            [
                "Cargo.toml",
                "src/lib.rs",
                "audit-books.rule.yaml",
                "README.md",
                ".gitignore"
            ]
        );
        for (path, contents) in &files {
            for placeholder in [
                "{{name}}",
                "{{crate_name}}",
                "{{struct_name}}",
                "{{sdk_dependency}}",
            ] {
                assert!(
                    !contents.contains(placeholder),
                    "{}: {placeholder}",
                    path.display()
                );
            }
        }
        let manifest: toml::Table = files[0].1.parse().expect("Cargo.toml is TOML");
        assert_eq!(manifest["package"]["name"].as_str(), Some("audit-books"));
        assert_eq!(
            manifest["dependencies"]["trailmark-sdk"]["git"].as_str(),
            Some("u")
        );
        assert!(manifest["workspace"].is_table());
        assert!(files[1].1.contains("export_plugin!(AuditBooks);"));
        assert!(files[3].1.contains("release/audit_books.wasm"));
    }

    #[test]
    fn dependency_lines_are_quoted_toml() {
        let path = SdkSource::Path(PathBuf::from(r"C:\src\trail mark\sdk"));
        let line = path.dependency().expect("utf-8 path");
        let parsed: toml::Table = line.parse().expect("valid TOML");
        assert_eq!(
            parsed["trailmark-sdk"]["path"].as_str(),
            Some(r"C:\src\trail mark\sdk")
        );
        let git = SdkSource::Git("https://example.com/t\"m.git".to_owned());
        let parsed: toml::Table = git.dependency().expect("git").parse().expect("valid TOML");
        assert_eq!(
            parsed["trailmark-sdk"]["git"].as_str(),
            Some("https://example.com/t\"m.git")
        );
    }

    #[test]
    fn sdk_defaults_to_the_bundled_one_and_checks_given_paths() {
        assert_eq!(
            SdkSource::choose(None, None).expect("bundled"),
            SdkSource::Bundled
        );
        assert_eq!(
            SdkSource::choose(Some(Path::new("/nonexistent")), Some("g")).expect("git wins"),
            SdkSource::Git("g".to_owned())
        );
        let empty = tempfile::tempdir().expect("temp dir");
        let error = SdkSource::choose(Some(empty.path()), None).expect_err("no Cargo.toml");
        assert!(error.to_string().contains("--sdk-path"), "{error}");
    }

    #[test]
    fn the_bundled_sdk_is_this_checkouts_with_a_standalone_manifest() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let files = SdkSource::Bundled.files();
        let get = |path: &str| {
            files
                .iter()
                .find(|(p, _)| p == Path::new(path))
                .map(|(_, c)| c.as_str())
                .unwrap_or_else(|| panic!("{path} is not bundled"))
        };
        for (bundled, source) in [
            ("vendor/trailmark-sdk/src/lib.rs", "sdk/src/lib.rs"),
            ("vendor/trailmark-sdk/wit/world.wit", "sdk/wit/world.wit"),
            (
                "vendor/trailmark-event/src/state_change.rs",
                "event/src/state_change.rs",
            ),
        ] {
            let on_disk = std::fs::read_to_string(root.join(source)).expect("source");
            assert_eq!(get(bundled), on_disk, "{bundled}");
        }
        let sdk: toml::Table = get("vendor/trailmark-sdk/Cargo.toml")
            .parse()
            .expect("TOML");
        assert_eq!(sdk["package"]["name"].as_str(), Some("trailmark-sdk"));
        assert!(
            sdk["package"]["version"].is_str(),
            "inherited keys are written out"
        );
        assert_eq!(
            sdk["dependencies"]["trailmark-event"]["path"].as_str(),
            Some("../trailmark-event")
        );
        assert!(sdk["dependencies"]["wit-bindgen"]["version"].is_str());
        let raw_value = toml::Value::String("raw_value".into());
        assert!(
            sdk["dependencies"]["serde_json"]["features"]
                .as_array()
                .is_some_and(|f| f.contains(&raw_value)),
            "the crate's own features are kept"
        );
        let event: toml::Table = get("vendor/trailmark-event/Cargo.toml")
            .parse()
            .expect("TOML");
        assert_eq!(event["package"]["name"].as_str(), Some("trailmark-event"));
    }

    #[test]
    fn write_refuses_non_empty_targets_and_fills_empty_ones() {
        let root = tempfile::tempdir().expect("temp dir");
        let files = vec![(PathBuf::from("src/lib.rs"), "// x\n".to_owned())];

        let taken = root.path().join("taken");
        std::fs::create_dir(&taken).expect("mkdir");
        std::fs::write(taken.join("keep.txt"), "mine").expect("write");
        let error = write(&taken, &files).expect_err("not empty");
        assert!(
            error.to_string().contains("not an empty directory"),
            "{error}"
        );
        assert!(!taken.join("src").exists());

        let file = root.path().join("file");
        std::fs::write(&file, "mine").expect("write");
        assert!(matches!(
            write(&file, &files),
            Err(NewPluginError::NotEmpty(_))
        ));

        let empty = root.path().join("empty");
        std::fs::create_dir(&empty).expect("mkdir");
        write(&empty, &files).expect("empty dir is fine");
        assert_eq!(
            std::fs::read_to_string(empty.join("src/lib.rs")).expect("read"),
            "// x\n"
        );
    }
}
