//! socketioxide peer for the sio benchmarks: the benchmark-relevant part of namespace `/` of the
//! contract server (/work/shared/contract.md), on axum + tokio.
//!
//!   server [--host 127.0.0.1] [--port 3000] [--path /socket.io/] [--ping-interval MS]
//!          [--ping-timeout MS] [--max-payload BYTES] [--allow-eio3] [--redis URL] [--cors]
//!
//! Prints `listening on http://HOST:PORT` when ready; exits 0 on SIGTERM/SIGINT.

use std::{convert::Infallible, fmt, io::Write, sync::Arc, time::Duration};

use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{SeqAccess, Visitor},
    ser::SerializeTuple,
};
use socketioxide::{
    SocketIo,
    adapter::Adapter,
    extract::{AckSender, Data, SocketRef, TryData},
    handler::{FromMessageParts, Value},
    socket::Socket,
};

/// Every argument of an event, of any JSON type with binary (as attachments) at any depth.
/// Deserializes and serializes as a tuple, which the socketioxide parser reads as "all the
/// arguments" (a non-tuple type would only get the first one) and writes back as many arguments.
struct Args(Vec<rmpv::Value>);

impl<'de> Deserialize<'de> for Args {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Args;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("event arguments")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Args, S::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(1));
                while let Some(x) = seq.next_element::<rmpv::Value>()? {
                    v.push(x);
                }
                Ok(Args(v))
            }
        }
        d.deserialize_tuple(usize::MAX, V)
    }
}

impl Serialize for Args {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(self.0.len())?;
        for x in &self.0 {
            t.serialize_element(x)?;
        }
        t.end()
    }
}

/// Whether the client asked for an ack (AckSender alone can't tell).
struct HasAck(bool);
impl<A: Adapter> FromMessageParts<A> for HasAck {
    type Error = Infallible;
    fn from_message_parts(
        _: &Arc<Socket<A>>,
        _: &mut Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        Ok(HasAck(ack_id.is_some()))
    }
}

struct Opts {
    host: String,
    port: u16,
    path: String,
    ping_interval: u64,
    ping_timeout: u64,
    max_payload: u64,
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "socketioxide-peer: {msg}\nusage: server [--host H] [--port P] [--path /socket.io/] \
         [--ping-interval MS] [--ping-timeout MS] [--max-payload BYTES] [--allow-eio3] [--redis URL] [--cors]"
    );
    std::process::exit(2);
}

fn parse_args() -> Opts {
    let mut o = Opts {
        host: "127.0.0.1".into(),
        port: 3000,
        path: "/socket.io/".into(),
        ping_interval: 25000,
        ping_timeout: 20000,
        max_payload: 1_000_000,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let (name, inline) = match argv[i].split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (argv[i].clone(), None),
        };
        let mut take = || -> String {
            if let Some(v) = inline.clone() {
                return v;
            }
            i += 1;
            argv.get(i).cloned().unwrap_or_else(|| usage(&format!("{name} wants a value")))
        };
        let num = |v: String| -> u64 {
            v.parse().unwrap_or_else(|_| usage(&format!("{name} wants a number")))
        };
        match name.as_str() {
            "--host" => o.host = take(),
            "--port" => {
                o.port = u16::try_from(num(take())).unwrap_or_else(|_| usage("bad --port"))
            }
            "--path" => o.path = take(),
            "--ping-interval" => o.ping_interval = num(take()),
            "--ping-timeout" => o.ping_timeout = num(take()),
            "--max-payload" => o.max_payload = num(take()),
            "--allow-eio3" => eprintln!("socketioxide-peer: note: --allow-eio3 is ignored (EIO4 only)"),
            "--redis" => {
                let url = take();
                eprintln!("socketioxide-peer: note: --redis {url} is ignored (in-memory adapter)")
            }
            "--cors" => eprintln!("socketioxide-peer: note: --cors is ignored"),
            _ => usage(&format!("unknown argument {:?}", argv[i])),
        }
        i += 1;
    }
    if !o.path.starts_with('/') {
        usage("--path must start with /");
    }
    o
}

#[tokio::main]
async fn main() {
    let o = parse_args();

    let (layer, io) = SocketIo::builder()
        .req_path(o.path.clone())
        .ping_interval(Duration::from_millis(o.ping_interval))
        .ping_timeout(Duration::from_millis(o.ping_timeout))
        .max_payload(o.max_payload)
        .ws_max_message_size(o.max_payload as usize)
        .connect_timeout(Duration::from_millis(1000))
        // per-socket outgoing queue (default 128 packets): emits fail once it is full, which a
        // broadcast-heavy benchmark would hit; the Node reference buffers without a bound
        .max_buffer_size(1 << 16)
        .build_layer();

    io.ns("/", async |s: SocketRef, TryData(auth): TryData<rmpv::Value>| {
        let auth = match auth {
            Ok(v @ rmpv::Value::Map(_)) => v,
            Ok(rmpv::Value::Nil) | Err(_) => rmpv::Value::Map(Vec::new()),
            Ok(v) => v,
        };
        s.emit("auth", &auth).ok();

        s.on("echo", async |s: SocketRef, HasAck(has_ack), ack: AckSender, Data(args): Data<Args>| {
            if has_ack {
                ack.send(&args).ok();
            } else {
                s.emit("echo", &args).ok();
            }
        });
        s.on("message", async |s: SocketRef, Data(args): Data<Args>| {
            s.emit("message-back", &args).ok();
        });
        s.on("message-with-ack", async |ack: AckSender, Data(args): Data<Args>| {
            ack.send(&args).ok();
        });
        s.on("broadcast", async |io: SocketIo, Data(args): Data<Args>| {
            io.emit("broadcast", &args).await.ok();
        });
        s.on("count", async |io: SocketIo, ack: AckSender| {
            ack.send(&io.sockets().len()).ok();
        });
    });

    let app = axum::Router::new().layer(layer);

    let listener = tokio::net::TcpListener::bind((o.host.as_str(), o.port))
        .await
        .unwrap_or_else(|e| {
            eprintln!("socketioxide-peer: {e}");
            std::process::exit(1);
        });
    let port = listener.local_addr().expect("local addr").port();
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{}:{}", o.host, port).ok();
        out.flush().ok();
    }

    let stop_io = io.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        // closes every socket (DISCONNECT + engine close); bounded in case one hangs
        tokio::time::timeout(Duration::from_secs(3), stop_io.close()).await.ok();
        std::process::exit(0);
    });

    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        tcp.set_nodelay(true).ok();
    });
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("socketioxide-peer: {e}");
        std::process::exit(1);
    }
}
