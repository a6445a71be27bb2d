//! Published ports (`-p`, `-P`), relayed in user space by the container's monitor.
//!
//! The container keeps its private network namespace with only loopback: no bridge,
//! no veth, no NAT rule on the host. The monitor listens on the host address and,
//! for each connection, opens a socket *inside* the container's network namespace
//! (a relay thread joins it with `setns(CLONE_NEWNET)`, which affects only that
//! thread) and connects to `127.0.0.1:PORT` there, then copies bytes both ways.
//! This is what rootlesskit's builtin port driver does; the container sees the
//! connection come from its own loopback.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use crate::spec::PortMap;
use crate::{EngineError, Result};

/// Bind every published port on the host (port 0: a free one, written back).
pub fn listen(ports: &mut [PortMap]) -> Result<Vec<(TcpListener, u16)>> {
    let mut out = Vec::new();
    for p in ports.iter_mut() {
        let addr = format!(
            "{}:{}",
            if p.host_ip.contains(':') {
                format!("[{}]", p.host_ip)
            } else {
                p.host_ip.clone()
            },
            p.host_port
        );
        let l = TcpListener::bind(&addr).map_err(|e| {
            EngineError::Invalid(format!(
                "-p {}:{}: cannot listen on {addr}: {e}",
                p.host_port, p.container_port
            ))
        })?;
        p.host_port = l.local_addr().map(|a| a.port()).unwrap_or(p.host_port);
        out.push((l, p.container_port));
    }
    Ok(out)
}

/// Connect to `127.0.0.1:port` inside the network namespace `netns`.
pub fn connect_in(netns: &OwnedFd, port: u16) -> std::io::Result<TcpStream> {
    // a short-lived thread: setns changes only the calling thread's namespace, and
    // the socket stays in the namespace it was created in
    let ns = netns.try_clone()?;
    std::thread::spawn(move || {
        nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(std::io::Error::from)?;
        TcpStream::connect(("127.0.0.1", port))
    })
    .join()
    .map_err(|_| std::io::Error::other("relay thread panicked"))?
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

/// Serve the listeners for the rest of the monitor's life (threads).
pub fn relay(listeners: Vec<(TcpListener, u16)>, netns: OwnedFd) {
    let netns = Arc::new(netns);
    for (l, port) in listeners {
        let netns = Arc::clone(&netns);
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(client) = conn else { continue };
                let netns = Arc::clone(&netns);
                std::thread::spawn(move || {
                    let Ok(inner) = connect_in(&netns, port) else {
                        return; // nothing listens inside: the client sees a close
                    };
                    let (Ok(c2), Ok(i2)) = (client.try_clone(), inner.try_clone()) else {
                        return;
                    };
                    let t = std::thread::spawn(move || pipe(c2, i2));
                    pipe(inner, client);
                    let _ = t.join();
                });
            }
        });
    }
}
