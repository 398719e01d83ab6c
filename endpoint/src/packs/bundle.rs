//! DRP's two content pack forms, read into one `ContentPack`:
//! - the single document `{meta, sections}` (JSON or YAML), as `POST /contents` takes it;
//! - the directory form `drpcli contents bundle` reads: one `._<Field>.meta` file per meta
//!   field, one folder per collection, one file per object (YAML or JSON, keyed by the
//!   object's own key field; `templates/` files of any other type are raw template text
//!   keyed by file name).
//!
//! Neither touches the store: refusing a pack that conflicts or lacks prerequisites is
//! `store::contents`, where the state is.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::command::ContentPack;
use crate::model;

/// The largest pack accepted, as a request body or as the sum of a directory's files.
pub const MAX_PACK_BYTES: usize = 32 << 20;

/// DRP's model says an empty Version means 0.0.0; the bundle writes it out so the pack can
/// be installed and compared (`drpcli` writes the string "Unspecified" instead).
pub const DEFAULT_VERSION: &str = "0.0.0";

/// Meta fields DRP keeps verbatim; all others are trimmed (`models.ContentMetaData`).
const UNTRIMMED_META: &[&str] = &["Documentation"];

/// Meta fields that are booleans in DRP's model; every other meta field is a string.
const BOOL_META: &[&str] = &["Writable", "Overwritable"];

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("the content pack is larger than {} MiB", MAX_PACK_BYTES >> 20)]
    TooLarge,
    #[error("the content pack is empty; a JSON or YAML document {{meta, sections}} is required")]
    Empty,
    /// The document is not valid JSON/YAML.
    #[error("the content pack is not valid {format}: {message}")]
    Syntax {
        format: &'static str,
        message: String,
    },
    /// Valid JSON/YAML, but not shaped like a content pack.
    #[error("not a content pack: {0}")]
    Shape(String),
    #[error("{}: {error}", .path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: no ._Name.meta and no Name given: not a content pack directory", .0.display())]
    NoName(PathBuf),
    /// A file of the directory form that cannot become an object.
    #[error("{}: {message}", .path.display())]
    File { path: PathBuf, message: String },
    #[error("{section}/{key} is defined twice: by {} and by {}", .first.display(), .second.display())]
    DuplicateKey {
        section: String,
        key: String,
        first: PathBuf,
        second: PathBuf,
    },
    /// `drp-endpoint contents bundle`: a meta argument that is not `FIELD=VALUE`.
    #[error("meta field {0:?} must be FIELD=VALUE")]
    MetaArg(String),
    #[error("printing the pack: {0}")]
    Print(serde_json::Error),
}

/// A pack read from its directory form, with what was left out and why.
#[derive(Debug, Clone)]
pub struct Bundled {
    pub pack: ContentPack,
    /// Things the bundle skipped or assumed (unknown folders, hidden files, a default
    /// Version), one sentence each.
    pub warnings: Vec<String>,
}

/// Reads DRP's directory form. `meta` fields given here win over the `._<Field>.meta`
/// files (e.g. a Version injected at build time).
pub fn bundle_dir(dir: &Path, meta: &BTreeMap<String, String>) -> Result<Bundled, BundleError> {
    let mut budget = MAX_PACK_BYTES;
    let mut warnings = Vec::new();
    let mut out_meta = Map::new();
    let mut sections = BTreeMap::new();

    for entry in sorted_entries(dir)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let is_dir = fs::metadata(&path)
            .map_err(|source| io(&path, source))?
            .is_dir();
        if !is_dir {
            if let Some(field) = name
                .strip_prefix("._")
                .and_then(|n| n.strip_suffix(".meta"))
            {
                let text = read_text(&path, &mut budget)?;
                let value = if UNTRIMMED_META.contains(&field) {
                    text
                } else {
                    text.trim().to_string()
                };
                // DRP drops empty meta values.
                if !value.trim().is_empty() {
                    out_meta.insert(field.to_string(), Value::String(value));
                }
            }
            continue;
        }
        if name.starts_with('.') {
            continue;
        }
        let Some(collection) = model::collection(&name) else {
            warnings.push(format!(
                "skipped folder {name}/: not a collection this endpoint serves"
            ));
            continue;
        };
        let items = read_section(&path, collection, &mut budget, &mut warnings)?;
        sections.insert(name, items);
    }

    for (field, value) in meta {
        out_meta.insert(field.clone(), Value::String(value.clone()));
    }
    if !out_meta.contains_key("Name") {
        return Err(BundleError::NoName(dir.to_path_buf()));
    }
    if !out_meta.contains_key("Version") {
        warnings.push(format!(
            "no ._Version.meta and no Version given: using {DEFAULT_VERSION}"
        ));
        out_meta.insert("Version".into(), Value::String(DEFAULT_VERSION.into()));
    }
    Ok(Bundled {
        pack: ContentPack {
            meta: out_meta,
            sections,
        },
        warnings,
    })
}

/// One collection folder: each file is one object under its key.
fn read_section(
    dir: &Path,
    collection: &model::Collection,
    budget: &mut usize,
    warnings: &mut Vec<String>,
) -> Result<BTreeMap<String, Value>, BundleError> {
    let mut items = BTreeMap::new();
    let mut origin: HashMap<String, PathBuf> = HashMap::new();
    for entry in sorted_entries(dir)? {
        let path = entry.path();
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if fs::metadata(&path).map_err(|e| io(&path, e))?.is_dir() {
            warnings.push(format!(
                "skipped folder {}/{file_name}/: objects are files",
                collection.name
            ));
            continue;
        }
        if file_name.starts_with('.') {
            warnings.push(format!(
                "skipped hidden file {}/{file_name}",
                collection.name
            ));
            continue;
        }
        let text = read_text(&path, budget)?;
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let object = match ext {
            "yaml" | "yml" => {
                serde_yaml::from_str::<Value>(&text).map_err(|e| BundleError::File {
                    path: path.clone(),
                    message: format!("not valid YAML: {e}"),
                })?
            }
            "json" => serde_json::from_str::<Value>(&text).map_err(|e| BundleError::File {
                path: path.clone(),
                message: format!("not valid JSON: {e}"),
            })?,
            _ if collection.name == "templates" => {
                serde_json::json!({ "ID": file_name, "Contents": text })
            }
            _ => {
                return Err(BundleError::File {
                    path,
                    message: "objects must be .yaml, .yml or .json files".into(),
                })
            }
        };
        if !object.is_object() {
            return Err(BundleError::File {
                path,
                message: format!("a {} object must be a mapping", collection.model),
            });
        }
        let key = match object.get(collection.key_field) {
            Some(Value::String(k)) if !k.is_empty() => k.clone(),
            _ => {
                return Err(BundleError::File {
                    path,
                    message: format!("has no {} (the object's key)", collection.key_field),
                })
            }
        };
        if let Some(first) = origin.get(&key) {
            return Err(BundleError::DuplicateKey {
                section: collection.name.to_string(),
                key,
                first: first.clone(),
                second: path,
            });
        }
        origin.insert(key.clone(), path);
        items.insert(key, object);
    }
    Ok(items)
}

fn sorted_entries(dir: &Path) -> Result<Vec<fs::DirEntry>, BundleError> {
    let mut entries = fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| io(dir, e))?;
    entries.sort_by_key(fs::DirEntry::file_name);
    Ok(entries)
}

/// Reads a UTF-8 file, counting it against the pack's size budget before reading it.
fn read_text(path: &Path, budget: &mut usize) -> Result<String, BundleError> {
    let len = fs::metadata(path).map_err(|e| io(path, e))?.len();
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > *budget {
        return Err(BundleError::TooLarge);
    }
    *budget -= len;
    let bytes = fs::read(path).map_err(|e| io(path, e))?;
    String::from_utf8(bytes).map_err(|_| BundleError::File {
        path: path.to_path_buf(),
        message: "not UTF-8 text".into(),
    })
}

fn io(path: &Path, error: std::io::Error) -> BundleError {
    BundleError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Parses the single-document form (JSON when it starts with `{`, else YAML). Meta numbers
/// and booleans become strings, as DRP's meta fields are strings.
pub fn parse_pack(body: &[u8]) -> Result<ContentPack, BundleError> {
    if body.len() > MAX_PACK_BYTES {
        return Err(BundleError::TooLarge);
    }
    let trimmed = body.trim_ascii_start();
    if trimmed.is_empty() {
        return Err(BundleError::Empty);
    }
    let doc: Value = if trimmed.starts_with(b"{") {
        serde_json::from_slice(body).map_err(|e| BundleError::Syntax {
            format: "JSON",
            message: e.to_string(),
        })?
    } else {
        serde_yaml::from_slice(body).map_err(|e| BundleError::Syntax {
            format: "YAML",
            message: e.to_string(),
        })?
    };
    pack_from_value(doc)
}

/// Checks the shape `{meta: {...}, sections: {<collection>: {<key>: {...}}}}`.
pub fn pack_from_value(doc: Value) -> Result<ContentPack, BundleError> {
    let Value::Object(mut doc) = doc else {
        return Err(BundleError::Shape(
            "the document must be a mapping with meta and sections".into(),
        ));
    };
    let meta = match doc.remove("meta") {
        Some(Value::Object(m)) => m,
        Some(_) => return Err(BundleError::Shape("meta must be a mapping".into())),
        None => return Err(BundleError::Shape("meta is missing".into())),
    };
    let mut out_meta = Map::new();
    for (field, value) in meta {
        let value = match value {
            Value::Number(n) => Value::String(n.to_string()),
            Value::Bool(b) if !BOOL_META.contains(&field.as_str()) => Value::String(b.to_string()),
            other => other,
        };
        out_meta.insert(field, value);
    }
    let mut sections = BTreeMap::new();
    match doc.remove("sections") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (section, items) in map {
                let items = match items {
                    Value::Null => BTreeMap::new(),
                    Value::Object(items) => items.into_iter().collect(),
                    _ => {
                        return Err(BundleError::Shape(format!(
                            "sections.{section} must be a mapping of key to object"
                        )))
                    }
                };
                sections.insert(section, items);
            }
        }
        Some(_) => {
            return Err(BundleError::Shape(
                "sections must be a mapping of collection to objects".into(),
            ))
        }
    }
    Ok(ContentPack {
        meta: out_meta,
        sections,
    })
}

/// `drp-endpoint contents ...`: offline content pack tools.
#[derive(Debug, clap::Subcommand)]
pub enum ContentsCommand {
    /// Print DRP's single-document JSON form of a content pack directory (`._<Field>.meta`
    /// files, one folder per collection, one file per object).
    Bundle {
        /// The content pack directory.
        dir: PathBuf,
        /// Meta fields as FIELD=VALUE (e.g. Version=v1.2.3); they win over the directory's
        /// `._<Field>.meta` files.
        meta: Vec<String>,
    },
}

impl ContentsCommand {
    pub fn run(self) -> Result<(), BundleError> {
        match self {
            ContentsCommand::Bundle { dir, meta } => {
                let mut fields = BTreeMap::new();
                for arg in meta {
                    let Some((k, v)) = arg.split_once('=') else {
                        return Err(BundleError::MetaArg(arg.clone()));
                    };
                    fields.insert(k.to_string(), v.to_string());
                }
                let bundled = bundle_dir(&dir, &fields)?;
                for w in &bundled.warnings {
                    eprintln!("note: {w}");
                }
                let text =
                    serde_json::to_string_pretty(&bundled.pack).map_err(BundleError::Print)?;
                println!("{text}");
                Ok(())
            }
        }
    }
}
