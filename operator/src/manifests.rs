//! Reading manifests from files, directories and multi-document YAML streams, as GitOps
//! repositories hold them.

use std::fs;
use std::io::{BufRead, BufReader, Read};
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
    #[error(
        "{}: document {index} is larger than {} bytes, more than etcd (and so the API server) stores in one object: it is not read further, nor is the rest of the file",
        file.display(),
        MAX_DOCUMENT_BYTES
    )]
    TooLarge { file: PathBuf, index: usize },
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
    let io_error = |source| ReadError::Io {
        file: file.to_owned(),
        source,
    };
    let reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        Box::new(BufReader::new(fs::File::open(file).map_err(io_error)?))
    };
    let (chunks, too_large) = documents(reader).map_err(io_error)?;
    let mut out = Vec::new();
    for (index, text) in chunks {
        let yaml_error = |message: String| ReadError::Yaml {
            file: file.to_owned(),
            index,
            message,
        };
        let text = match String::from_utf8(text) {
            Ok(text) => text,
            Err(_) => {
                out.push(Err(yaml_error("is not UTF-8 text".to_owned())));
                continue;
            }
        };
        // Every result: a chunk holds more than one document when they are ended by `...`
        // rather than separated by `---`, and none may go unread.
        for result in parse_stream(file, &text) {
            out.push(match result {
                Ok(doc) => Ok(Document { index, ..doc }),
                Err(ReadError::Yaml { message, .. }) => Err(yaml_error(message)),
                Err(other) => Err(other),
            });
        }
    }
    if let Some(index) = too_large {
        out.push(Err(ReadError::TooLarge {
            file: file.to_owned(),
            index,
        }));
    }
    Ok(out)
}

/// The largest document read: 1.5 MiB, what etcd stores in one object by default (and so the
/// most an API server keeps). A larger one can never be a tenant.
pub const MAX_DOCUMENT_BYTES: usize = 1_572_864;

/// Each document's position and bytes; the position of one too large to read, if any.
type Split = (Vec<(usize, Vec<u8>)>, Option<usize>);

/// The documents of a YAML stream, split at its `---` lines, each with its position; and the
/// position of a document over [`MAX_DOCUMENT_BYTES`], where reading stopped. Memory stays
/// bounded by that size whatever the input (a 50 MB line included).
fn documents(mut reader: impl BufRead) -> std::io::Result<Split> {
    let mut done = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    // Text before the first `---` is a document only if it holds more than comments.
    let (mut index, mut started) = (0, false);
    loop {
        let allowance = (MAX_DOCUMENT_BYTES + 1).saturating_sub(current.len()) as u64;
        let mut line = Vec::new();
        let read = (&mut reader).take(allowance).read_until(b'\n', &mut line)?;
        if read == 0 {
            break;
        }
        if is_separator(&line) {
            if started || has_content(&current) {
                done.push((index, std::mem::take(&mut current)));
                index += 1;
            } else {
                current.clear();
            }
            started = true;
            // What follows `---` on its line (`--- a: 1`) begins the document.
            current.extend_from_slice(&line[3..]);
            continue;
        }
        current.extend_from_slice(&line);
        if current.len() > MAX_DOCUMENT_BYTES {
            return Ok((done, Some(index)));
        }
    }
    if started || has_content(&current) {
        done.push((index, current));
    }
    Ok((done, None))
}

fn is_separator(line: &[u8]) -> bool {
    line.starts_with(b"---") && line.get(3).is_none_or(|c| c.is_ascii_whitespace())
}

fn has_content(text: &[u8]) -> bool {
    text.split(|b| *b == b'\n').any(|line| {
        let line = line.trim_ascii();
        !line.is_empty() && !line.starts_with(b"#")
    })
}

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

    fn read_text(text: &str) -> Vec<Result<serde_json::Value, String>> {
        let (chunks, too_large) = documents(text.as_bytes()).unwrap();
        assert_eq!(too_large, None);
        chunks
            .into_iter()
            .flat_map(|(index, chunk)| {
                parse_stream(Path::new("x.yaml"), std::str::from_utf8(&chunk).unwrap())
                    .into_iter()
                    .map(move |d| {
                        d.map(|d| {
                            assert!(index < 10);
                            d.value
                        })
                        .map_err(|e| e.to_string())
                    })
            })
            .collect()
    }

    /// Split by lines, the stream gives what the YAML parser gives for the whole of it.
    #[test]
    fn documents_split_at_separator_lines_as_yaml_does() {
        for text in [
            "a: 1\n---\nb: 2\n",
            "---\na: 1\n---\n---\nb: 2\n",
            "# only a comment\n---\na: 1\n",
            "---\na: 1\n--- # c\nb: 2\n",
            "a: |\n  ---x\n  text\n---\nb: [1, 2]\n",
            "",
            "# nothing\n",
            "a: 1\n...\nb: 2\n",
            "a: 1\r\n---\r\nb: 2\r\n",
        ] {
            let whole: Vec<_> = parse_stream(Path::new("x.yaml"), text)
                .into_iter()
                .map(|d| d.map(|d| d.value).map_err(|e| e.to_string()))
                .collect();
            assert_eq!(read_text(text), whole, "{text:?}");
        }
    }

    #[test]
    fn a_document_over_the_limit_stops_the_reading_with_bounded_memory() {
        let big = format!(
            "a: 1\n---\nname: {}\n---\nb: 2\n",
            "x".repeat(3 * MAX_DOCUMENT_BYTES)
        );
        let (chunks, too_large) = documents(big.as_bytes()).unwrap();
        assert_eq!(chunks.len(), 1, "the first document only");
        assert_eq!(too_large, Some(1));
    }

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
