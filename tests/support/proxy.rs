//! A TCP proxy in front of the API server that a test can freeze: from then on no byte passes
//! either way and every connection stays open, as when an API server (or the network to it)
//! goes silent without closing anything. Requests then hang rather than fail.
//!
//! It runs on a thread of its own, so it forwards whatever the test's runtime is doing.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

pub struct FreezableProxy {
    kubeconfig: PathBuf,
    frozen: watch::Sender<bool>,
    stop: Option<oneshot::Sender<()>>,
}

impl FreezableProxy {
    /// In front of the API server of `kubeconfig`'s clusters (all of them the same server, as
    /// in the test kubeconfigs); [`FreezableProxy::kubeconfig`] is a copy that goes through it.
    pub fn in_front_of(kubeconfig: &Path, name: &str) -> Self {
        let mut config: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(kubeconfig).expect("kubeconfig"))
                .expect("kubeconfig is YAML");
        let server = config["clusters"][0]["cluster"]["server"]
            .as_str()
            .expect("a cluster with a server")
            .to_owned();
        let authority = server
            .strip_prefix("https://")
            .expect("an https:// server")
            .trim_end_matches('/')
            .to_owned();
        let host = authority
            .rsplit_once(':')
            .map_or(authority.as_str(), |(h, _)| h)
            .trim_matches(['[', ']'])
            .to_owned();

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (frozen, frozen_rx) = watch::channel(false);
        let (stop, stop_rx) = oneshot::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            // Dropping the runtime at the end cancels every connection's tasks.
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                tokio::select! {
                    () = accept(listener, authority, frozen_rx) => {}
                    _ = stop_rx => {}
                }
            });
        });

        for cluster in config["clusters"].as_sequence_mut().into_iter().flatten() {
            cluster["cluster"]["server"] = format!("https://127.0.0.1:{port}").into();
            // The certificate names the server, not the proxy.
            cluster["cluster"]["tls-server-name"] = host.clone().into();
        }
        let path = std::env::temp_dir().join(format!("{name}-proxied.kubeconfig"));
        std::fs::write(&path, serde_yaml_ng::to_string(&config).expect("YAML")).unwrap();
        Self {
            kubeconfig: path,
            frozen,
            stop: Some(stop),
        }
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// From now on nothing passes, and nothing is closed.
    pub fn freeze(&self) {
        self.frozen.send_replace(true);
    }
}

impl Drop for FreezableProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = std::fs::remove_file(&self.kubeconfig);
    }
}

async fn accept(listener: TcpListener, upstream: String, frozen: watch::Receiver<bool>) {
    while let Ok((client, _)) = listener.accept().await {
        let (upstream, frozen) = (upstream.clone(), frozen.clone());
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                return;
            };
            let (from_client, to_client) = client.into_split();
            let (from_server, to_server) = server.into_split();
            tokio::join!(
                pump(from_client, to_server, frozen.clone()),
                pump(from_server, to_client, frozen),
            );
        });
    }
}

/// Copies until either side closes, holding each chunk while frozen.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: watch::Receiver<bool>,
) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.wait_for(|f| !*f).await.is_err() || to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
