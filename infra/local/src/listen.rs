//! The accept loop of the local servers that keep their connections (the Upstash
//! endpoint, the payment simulators).

use std::{future::Future, io};

use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinSet,
};

/// Accepts connections on `listener` and serves each with `connection` until the
/// task is dropped. The connections live in a `JoinSet` owned here, so dropping the
/// server also ends every keep-alive connection instead of leaving them to answer
/// from a server that is supposedly gone.
pub async fn accept<F, Fut>(listener: TcpListener, mut connection: F) -> io::Result<()>
where
    F: FnMut(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) if is_per_connection(&error) => continue,
            Err(error) => return Err(error),
        };
        while connections.try_join_next().is_some() {}
        connections.spawn(connection(stream));
    }
}

/// Accept errors that concern only the connection being accepted, not the listener.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}
