//! A fake of a national platform (`tests/io-platform`, `tests/pagopa-backoffice`), run for one
//! test and killed when dropped: it checks every call against the project's description of the
//! platform's API, and a test drives it and reads it under `/__fake`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub struct Fake {
    child: Child,
    pub base: String,
    http: reqwest::Client,
}

impl Fake {
    /// The fake `script` (under tests/), refusing with 429 past `rate` calls a second.
    pub fn start(script: &str, rate: u32, flags: &[&str]) -> Self {
        let python = super::script_path(
            "tests/python-tools",
            &["platforms"],
            "openapi-core is needed",
        )
        .join("python");
        let mut child = Command::new(python)
            .arg(super::repo_root().join("tests").join(script))
            .args(["--port", "0", "--rate", &rate.to_string()])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("the fake {script} starts: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the fake {script} said {line:?}"))
            .to_owned();
        Self {
            child,
            base,
            http: reqwest::Client::new(),
        }
    }

    pub async fn control(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/__fake/{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    }

    pub async fn state(&self) -> Value {
        let url = format!("{}/__fake/state", self.base);
        let response = self.http.get(url).send().await.unwrap();
        response.json().await.unwrap()
    }

    /// Every call so far kept the contract.
    pub async fn assert_no_violations(&self) {
        let state = self.state().await;
        let violations = state["violations"].as_array().unwrap();
        assert!(
            violations.is_empty(),
            "the contract was broken: {violations:#?}"
        );
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
