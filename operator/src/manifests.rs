//! Reading manifests from files, directories and multi-document YAML streams, as GitOps
//! repositories hold them.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One YAML document of a file: where it came from and what it says.
#[derive(Debug, Clone)]
pub struct Document {
    pub file: PathBuf,
    /// Position in its file's stream, from 0.
    pub index: usize,
    pub value: serde_json::Value,
}

/// A file or document that cannot be read as a manifest.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: cannot read: {source}", file.display())]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: document {index} is not valid YAML: {message}", file.display())]
    Yaml {
        file: PathBuf,
        index: usize,
        message: String,
    },
}

/// Files of a directory that are not manifests even though they are YAML.
const NOT_MANIFESTS: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Expands paths into the YAML files they name: a file as it is, a directory recursively
/// (`*.yaml` and `*.yml`, sorted, Kustomize files left out), `-` for standard input.
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ReadError> {
    let mut out = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" || !path.is_dir() {
            out.push(path.clone());
            continue;
        }
        let mut stack = vec![path.clone()];
        let mut found = Vec::new();
        while let Some(dir) = stack.pop() {
            let entries = fs::read_dir(&dir).map_err(|source| ReadError::Io {
                file: dir.clone(),
                source,
            })?;
            for entry in entries {
                let entry = entry.map_err(|source| ReadError::Io {
                    file: dir.clone(),
                    source,
                })?;
                let p = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if p.is_dir() {
                    stack.push(p);
                } else if (name.ends_with(".yaml") || name.ends_with(".yml"))
                    && !NOT_MANIFESTS.contains(&name.as_str())
                {
                    found.push(p);
                }
            }
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

/// Reads every document of a file (or of standard input for `-`). Empty documents (a stray
/// `---`) are skipped. A document that is not YAML ends the file's stream: the parser cannot
/// find where the next one starts.
pub fn read(file: &Path) -> Result<Vec<Result<Document, ReadError>>, ReadError> {
    let text = if file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|source| ReadError::Io {
                file: file.to_owned(),
                source,
            })?;
        s
    } else {
        fs::read_to_string(file).map_err(|source| ReadError::Io {
            file: file.to_owned(),
            source,
        })?
    };
    Ok(parse_stream(file, &text))
}

/// Splits a multi-document YAML stream into JSON values.
pub fn parse_stream(file: &Path, text: &str) -> Vec<Result<Document, ReadError>> {
    let mut out = Vec::new();
    for (index, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let yaml_error = |message: String| ReadError::Yaml {
            file: file.to_owned(),
            index,
            message,
        };
        let value = match serde_yaml_ng::Value::deserialize(de) {
            Ok(v) => v,
            Err(e) => {
                out.push(Err(yaml_error(e.to_string())));
                break;
            }
        };
        if value.is_null() {
            continue;
        }
        match serde_json::to_value(&value) {
            Ok(value) => out.push(Ok(Document {
                file: file.to_owned(),
                index,
                value,
            })),
            Err(e) => out.push(Err(yaml_error(format!(
                "cannot be represented as JSON: {e}"
            )))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_streams_skip_empty_documents() {
        let docs = parse_stream(Path::new("x.yaml"), "---\na: 1\n---\n---\nb: 2\n");
        let values: Vec<_> = docs.into_iter().map(|d| d.unwrap().value).collect();
        assert_eq!(
            values,
            [serde_json::json!({"a": 1}), serde_json::json!({"b": 2})]
        );
    }

    #[test]
    fn broken_yaml_is_an_error_naming_the_file_and_document() {
        let docs = parse_stream(Path::new("bad.yaml"), "a: 1\n---\nb: [unclosed\n");
        assert!(docs[0].is_ok());
        let err = docs[1].as_ref().unwrap_err().to_string();
        assert!(
            err.starts_with("bad.yaml: document 1 is not valid YAML"),
            "{err}"
        );
    }
}
