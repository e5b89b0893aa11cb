//! A TCP relay in front of one of the machine's services (PostgreSQL, Redis) that a
//! test can take down and bring back, so a function sees the service stop
//! (connections refused, open ones cut) and start again on the same address, as
//! after a restart or a failover.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use tokio::{
    net::{TcpListener, TcpStream},
    task::AbortHandle,
};

pub struct TcpProxy {
    address: SocketAddr,
    upstream: SocketAddr,
    /// The accept loop and every relayed connection, aborted together by `stop`.
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl TcpProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let proxy = Self {
            address: listener.local_addr().expect("address"),
            upstream,
            tasks: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    fn serve(&self, listener: TcpListener) {
        let tasks = self.tasks.clone();
        let upstream = self.upstream;
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let relay = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().expect("lock").push(relay.abort_handle());
            }
        });
        self.tasks.lock().expect("lock").push(accept.abort_handle());
    }

    /// The service stops: new connections are refused, open ones are cut.
    pub async fn stop(&self) {
        for task in self.tasks.lock().expect("lock").drain(..) {
            task.abort();
        }
        // Until the listener is really gone, a connect could still be accepted.
        while TcpStream::connect(self.address).await.is_ok() {
            tokio::task::yield_now().await;
        }
    }

    /// The service is back on the same address.
    pub async fn resume(&self) {
        let listener = TcpListener::bind(self.address).await.expect("rebind");
        self.serve(listener);
    }
}
